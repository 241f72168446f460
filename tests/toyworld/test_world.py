"""The world generator: deterministic for a seed, every category present, captions name the factors."""
import pytest
import torch

from layerdream.errors import UserError
from layerdream.toyworld import world


def test_categories_and_concepts():
    assert len(world.CATEGORIES) >= 4
    assert len(world.CONCEPTS) >= 20 and len(set(world.CONCEPTS)) == len(world.CONCEPTS)
    assert world.concept_category("red") == "colour" and world.concept_category("winter") == "season"
    with pytest.raises(UserError):
        world.concept_category("dog")


def test_sample_is_deterministic_and_seed_dependent():
    a, fa, ca = world.sample(12, seed=3)
    b, fb, cb = world.sample(12, seed=3)
    c, _, _ = world.sample(12, seed=4)
    assert a.shape == (12, 3, 64, 64) and a.dtype == torch.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert torch.equal(a, b) and fa == fb and ca == cb
    assert not torch.equal(a, c)


def test_captions_name_every_factor_and_use_several_orders():
    _, factors, captions = world.sample(60, seed=0)
    for f, cap in zip(factors, captions):
        words = cap.split()
        assert all(f[cat] in words for cat in world.CATEGORIES)
        assert 14 <= f["radius"] <= 22 and 22 <= f["cx"] <= 42 and 22 <= f["cy"] <= 42
    assert len({f["template"] for f in factors}) >= 4


def test_text_sentences_deterministic_and_in_vocabulary():
    s1, s2 = world.text_sentences(50, 1), world.text_sentences(50, 1)
    assert s1 == s2
    vocab = set(world.VOCAB)
    for s in s1:
        assert all(w in vocab for w in s.split()), s
    assert any(w in s.split() for s in s1 for w in world.BASELINE_WORDS)


def test_baseline_words_are_not_concepts():
    assert not set(world.BASELINE_WORDS) & set(world.CONCEPTS)


def test_object_is_drawn_where_the_mask_says():
    factors = [{"colour": "red", "shape": "square", "background": "night", "season": "summer", "cx": 32, "cy": 32,
                "radius": 18}]
    img = world.render(factors, seed=0)
    mask = world.object_masks(factors)[0, 0]
    inside = img[0][:, mask > 0.99].mean(1)
    assert inside[0] > 0.6 and inside[2] < 0.4  # red-ish (summer warms it)
