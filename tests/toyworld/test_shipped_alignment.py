"""The shipped toy models are what the calibration rig says: toy-aligned aligned, toy-shuffled not.

A cheap guard against shipping a retrained checkpoint that silently lost its known alignment; the
full measurement (hundreds of synthesised images) is `layerdream toyworld calibrate`, docs/toyworld.md.
"""
import pytest
import torch

import layerdream as ld
from layerdream.toyworld import TOY_MODELS, checkpoint_path, lm, probe, world
from layerdream.toyworld.judge import load_judge

torch.set_num_threads(1)
SHIPPED = [m for m in TOY_MODELS if (checkpoint_path(m) / "config.json").exists()]
pytestmark = pytest.mark.skipif(len(SHIPPED) < 3, reason="toy checkpoints not shipped")


def _probe(name: str, n: int = 48) -> dict:
    vlm = ld.load(name, device="cpu")
    return probe.probe(vlm.model, lm.Rows(vlm.processor.tokenizer, vlm.processor), n=n, seed=99)["real_image_alignment"]


def test_real_images_align_with_concept_vectors_only_in_toy_aligned():
    aligned, shuffled = _probe("toy-aligned"), _probe("toy-shuffled")
    for layer in ("1", "2"):
        acc = aligned[layer]["within_category_argmax"]
        assert min(acc["colour"], acc["background"], acc["season"]) >= 0.9, acc
        assert acc["shape"] >= 0.5, acc  # chance 0.25: the tower reads shape
        bad = shuffled[layer]["within_category_argmax"]
        assert bad["colour"] <= 0.45 and bad["background"] <= 0.5, bad  # chance 0.14 / 0.20


def test_synthesis_on_toy_aligned_is_recognised_by_the_judge():
    """End to end on the default model: a few concepts that succeed in every calibration seed."""
    vlm = ld.load("toy-aligned", device="cpu")
    concepts = ["red", "blue", "night", "summer"]
    results = ld.synthesize(vlm, concepts, layers=1, seeds=0, progress=False)
    judged = load_judge().predict(torch.stack([r.image for r in results]))
    for concept, r, j in zip(concepts, results, judged):
        assert j[world.concept_category(concept)] == concept, (concept, j)
        assert r.cosine_final > r.cosine_initial + 0.3
