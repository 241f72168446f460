"""Idefics2 traps the battery cannot see: learned queries (the flat spatial prior, recorded), a
released processor that splits images, and the gray image the model would drop as padding."""
from __future__ import annotations

import json

import pytest
import torch

import layerdream as ld
from families import idefics2 as family  # tests/models/families


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idefics2") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return folder


@pytest.fixture(scope="module")
def vlm(folder):
    return ld.load(str(folder), device="cpu")


def test_fixed_geometry_is_the_processors_shortest_edge(vlm):
    assert vlm.image_size == 378 and vlm.grid == (8, 8) and vlm.image_positions().numel() == 64


def test_the_spatial_prior_is_flat_for_learned_queries(vlm, monkeypatch):
    """The objective gets sigma = inf (every latent weighs alike), whatever the preset's schedule,
    and the result records the rule."""
    from layerdream.synthesis import loop

    seen = []
    real = loop.aggregate

    def spy(z, targets, grid, *, sigma, tau, weighting="paper"):
        seen.append(sigma)
        return real(z, targets, grid, sigma=sigma, tau=tau, weighting=weighting)

    monkeypatch.setattr(loop, "aggregate", spy)
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert seen and all(s == float("inf") for s in seen)
    assert "learned queries" in result.config["spatial_prior"]


def test_a_splitting_processor_still_gives_one_image(folder):
    """idefics2-8b's processor splits images (4 crops + the image, 5 x 64 tokens); the prompt keeps one."""
    config_file = folder / "processor_config.json"
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["do_image_splitting"] = True
    config_file.write_text(json.dumps(saved))
    try:
        vlm = ld.load(str(folder), device="cpu")
        assert vlm.processor.image_processor.do_image_splitting
        assert vlm.image_positions().numel() == 64
        with torch.no_grad():
            assert vlm.image_tokens(torch.rand(1, 3, 378, 378), 1).shape[1] == 64
    finally:
        saved["image_processor"]["do_image_splitting"] = False
        config_file.write_text(json.dumps(saved))


def test_an_exactly_gray_image_is_kept(vlm):
    """Uniform 0.5 gray normalises to exact zeros under mean = std = 0.5, which the model drops as a
    padding image; the adapter lifts it off zero (inherited from Idefics3)."""
    with torch.no_grad():
        tokens = vlm.image_tokens(torch.full((1, 3, 378, 378), 0.5), 1)
    assert tokens.shape[1] == 64 and torch.isfinite(tokens).all()
