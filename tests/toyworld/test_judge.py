"""The shipped judge reads fresh world samples (never seen in training) with >= 95% accuracy."""
import pytest
import torch

from layerdream.errors import UserError
from layerdream.toyworld import checkpoint_path, world
from layerdream.toyworld.judge import load_judge

pytestmark = pytest.mark.skipif(not (checkpoint_path("judge") / "judge.json").exists(), reason="judge not shipped")


def test_judge_accuracy_on_fresh_samples():
    judge = load_judge()
    assert judge.categories == world.CATEGORIES
    images, factors, _ = world.sample(300, seed=31_337)
    preds = judge.predict(images)
    for cat in world.CATEGORIES:
        acc = sum(p[cat] == f[cat] for p, f in zip(preds, factors)) / len(factors)
        assert acc >= 0.95, (cat, acc)


def test_predict_proba_shape_and_bad_input():
    judge = load_judge()
    proba = judge.predict_proba(torch.rand(2, 3, 64, 64))
    assert len(proba) == 2
    for cat, names in world.CATEGORIES.items():
        assert set(proba[0][cat]) == set(names)
        assert abs(sum(proba[0][cat].values()) - 1) < 1e-4
    with pytest.raises(UserError):
        judge.predict(torch.rand(3, 64, 64))
    with pytest.raises(UserError):
        load_judge("/nonexistent/judge")
