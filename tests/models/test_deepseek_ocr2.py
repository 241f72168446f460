"""DeepSeek-OCR 2 traps the battery cannot see: the learned view separator written at the last ``<image>``
position is no image token (no pixel reaches it), the image tokens are learned queries (flat spatial prior)
in an MoE text model (both rules recorded in each result), and a processor whose token count does not fit
the model is refused in one line."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import deepseek_ocr2 as family  # tests/models/families
from layerdream.errors import UserError
from layerdream.models.deepseek_ocr2 import DeepseekOcr2Adapter


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deepseek_ocr2") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_the_view_separator_is_not_an_image_token(vlm):
    prompt = vlm.image_prompt()
    ids = prompt["input_ids"][0]
    every = (ids == vlm.model.config.image_token_id).nonzero().flatten()
    positions = vlm.image_positions()
    assert every.numel() == positions.numel() + 1 and every[-1] not in positions
    pixels = vlm.adapter.preprocess(torch.rand(2, 3, vlm.image_size, vlm.image_size))
    with torch.no_grad():
        states = vlm.backbone(**vlm.adapter.forward_inputs(prompt, pixels, 2), use_cache=False,
                              output_hidden_states=True).hidden_states[0]
    separator = states[:, every[-1]]
    torch.testing.assert_close(separator, vlm.model.model.view_separator.expand(2, -1))  # the same for any picture
    assert (states[0, positions] - states[1, positions]).abs().max() > 1e-4  # the query tokens move with it


def test_flat_prior_and_moe_routing_are_recorded(vlm, monkeypatch):
    from layerdream.synthesis import loop

    seen = []
    real = loop.aggregate

    def spy(z, targets, grid, *, sigma, tau, weighting="paper"):
        seen.append(sigma)
        return real(z, targets, grid, sigma=sigma, tau=tau, weighting=weighting)

    monkeypatch.setattr(loop, "aggregate", spy)
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert seen and all(s == float("inf") for s in seen)
    assert "learned causal-flow queries" in result.config["spatial_prior"]
    assert "top-2 of 4 experts" in result.config["moe_routing"]


def test_a_processor_whose_count_does_not_fit_is_refused():
    model, processor = family.build_model_and_processor()
    processor.patch_size = 2  # 6 x 6 tokens per global view; the model makes 144
    with pytest.raises(UserError, match="writes 36 image tokens per global view but the model makes 144"):
        DeepseekOcr2Adapter(model, processor)
