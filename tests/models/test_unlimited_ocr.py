"""Unlimited-OCR traps the battery cannot see: the newline after each row and the final view separator
are ``<image>`` positions no pixel reaches (left out of the image tokens, which keep their spatial grid),
the MoE routing rule is recorded, a processor that does not fit the model is refused, and the test-only
twin of the torchvision image processor agrees with the real processor and model on a tiled picture."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import unlimited_ocr as family  # tests/models/families
from layerdream.errors import UserError
from layerdream.models.unlimited_ocr import UnlimitedOcrAdapter


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unlimited_ocr") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_newlines_and_separator_are_not_image_tokens(vlm):
    prompt = vlm.image_prompt()
    every = (prompt["input_ids"][0] == vlm.model.config.image_token_id).nonzero().flatten()
    positions = vlm.image_positions()
    side = vlm.grid[0]
    assert vlm.grid == (4, 4) and every.numel() == side * (side + 1) + 1 and positions.numel() == side * side
    left_out = sorted(set(every.tolist()) - set(positions.tolist()))
    assert left_out == [every[(r + 1) * (side + 1) - 1].item() for r in range(side)] + [every[-1].item()]
    pixels = vlm.adapter.preprocess(torch.rand(2, 3, vlm.image_size, vlm.image_size))
    with torch.no_grad():
        states = vlm.backbone(**vlm.adapter.forward_inputs(prompt, pixels, 2), use_cache=False,
                              output_hidden_states=True).hidden_states[0]
    model = vlm.model.model
    torch.testing.assert_close(states[:, left_out[:-1]], model.image_newline.expand(2, side, -1))
    torch.testing.assert_close(states[:, left_out[-1]], model.view_separator.expand(2, -1))
    assert (states[0, positions] - states[1, positions]).abs().max() > 1e-4  # the grid tokens move with the picture


def test_the_prior_is_spatial_and_the_routing_recorded(vlm, monkeypatch):
    from layerdream.synthesis import loop

    seen = []
    real = loop.aggregate

    def spy(z, targets, grid, *, sigma, tau, weighting="paper"):
        seen.append(sigma)
        return real(z, targets, grid, sigma=sigma, tau=tau, weighting=weighting)

    monkeypatch.setattr(loop, "aggregate", spy)
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert seen and all(s < float("inf") for s in seen)
    assert "top-2 of 4 experts" in result.config["moe_routing"] and "spatial_prior" not in result.config


def test_a_processor_that_does_not_fit_is_refused():
    model, processor = family.build_model_and_processor()
    processor.patch_size = 2  # an 8 x 8 global view; the model makes 4 x 4
    with pytest.raises(UserError, match="writes a 8 x 8 global view but the model makes 4 x 4"):
        UnlimitedOcrAdapter(model, processor)


def test_the_twin_agrees_with_the_processor_and_model_on_a_tiled_picture(vlm):
    """A 32 x 64 picture (past the 32-px tile): the twin's tiles, counts and grid are what the real
    UnlimitedOcrProcessor counts tokens from and what the real model scatters; a wrong layout fails here."""
    import numpy as np
    from PIL import Image

    pil = Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 64, 3), dtype=np.uint8))
    enc = vlm.processor(text="<image>", images=pil, return_tensors="pt")
    assert enc["patches_grid"] == [[2, 1]] and enc["num_local_patches"] == [2]  # the best-fit 2 x 1 canvas
    assert enc["pixel_values_local"].shape == (2, 3, 32, 32) and enc["pixel_values"].shape == (1, 3, 64, 64)
    with torch.no_grad():
        out = vlm.model(**{k: v for k, v in enc.items() if k != "token_type_ids"}, use_cache=False)
    assert out.logits.shape[1] == enc["input_ids"].shape[1]
