"""GLM-OCR checks the battery cannot make: our explicit 3-D positions give the states the model computes from
the processor's own output (its text model rotates the whole head, so a wrong position moves every channel),
and the memory model, fed by GLM-OCR's own tower terms (q/k norms in fp32), stays within 5 % of what autograd
keeps (GLM-4V's terms are 8 % low)."""
from __future__ import annotations

import pytest
import torch

from model_checks import assert_memory_model_close, picture_and_chat_inputs
from families import glm_ocr as family  # tests/models/families
from layerdream.models.glm_ocr import GlmOcrAdapter
from layerdream.models.vlm import VLM


@pytest.fixture(scope="module")
def vlm():
    model, processor = family.build_model_and_processor(layers=2)  # layer 1 < L: hidden_states[1] is pre-norm
    model.requires_grad_(False)
    return VLM(model, processor, GlmOcrAdapter(model, processor), name="glm-ocr")


def test_image_states_use_the_models_own_3d_positions(vlm):
    x, enc = picture_and_chat_inputs(vlm, 2)
    ours = vlm.image_tokens(x, 1)
    base = vlm.model.model
    with torch.no_grad():
        base.rope_deltas = None
        theirs = base(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    base.rope_deltas = None
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)


def test_memory_model_matches_what_the_tower_keeps(vlm):
    """Within 5 %: GLM-4V's block terms (3 I + 10 D) put it 8 % low here, since they miss the q/k norms."""
    assert_memory_model_close(vlm, vlm.image_size, 1, low=0.95, high=1.05)
