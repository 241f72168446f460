"""Kosmos-2.5 traps the battery cannot see: the image positions are the mask's 1s (its -1s are the
``<image>`` / ``</image>`` markers, in the image segment but not replaced), our forward is the HF model's
own (flattened patches, the processor's mask), and a gray start image (std 0, floored) keeps finite
gradients."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import kosmos2_5 as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kosmos2_5") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_positions_are_the_masks_ones_not_the_markers(vlm):
    prompt = vlm.image_prompt()
    mask = prompt["image_embeds_position_mask"][0]
    assert (mask == -1).sum() == 2  # <image> and </image>
    positions = vlm.image_positions()
    assert torch.equal(positions, (mask == 1).nonzero().flatten()) and positions.numel() == family.QUERIES
    tok = vlm.tokenizer.convert_tokens_to_ids
    ids = prompt["input_ids"][0]
    assert ids[positions[0] - 1] == tok("<image>") and ids[positions[-1] + 1] == tok("</image>")
    assert set(ids[positions].tolist()) == {vlm.tokenizer.bos_token_id}  # the placeholder is <s> itself


def test_early_exit_equals_the_hf_models_own_forward(vlm):
    """Against Kosmos2_5ForConditionalGeneration called on the processor's own outputs (its flattened
    patches, its mask with the markers' -1s), not against our backbone."""
    import numpy as np
    from PIL import Image

    pil = Image.fromarray(np.random.default_rng(3).integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8))
    enc = vlm.processor(images=pil, text="", return_tensors="pt", **family.PROCESSOR_KWARGS)
    with torch.no_grad():
        out = vlm.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                        flattened_patches=enc["flattened_patches"], image_embeds_position_mask=enc["image_embeds_position_mask"],
                        output_hidden_states=True, use_cache=False)
        x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255
        ours = vlm.image_tokens(x, 1)
    torch.testing.assert_close(ours[0], out.hidden_states[1][0, vlm.image_positions()], rtol=0, atol=1e-5)


def test_gray_start_has_finite_gradients(vlm):
    x = torch.full((1, 3, vlm.image_size, vlm.image_size), 0.5, requires_grad=True)
    vlm.image_tokens(x, 1).pow(2).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_flat_prior_recorded(vlm):
    [result] = ld.synthesize(vlm, "red", steps=2, progress=False)
    assert "learned queries" in result.config["spatial_prior"]
