"""Granite-Docling's trap: DeepStack. Our layer 1 is the state block 2 reads (after the injection), not HF's
pre-injection ``hidden_states[1]``, and results say so."""
from __future__ import annotations

import pytest
import torch

from model_checks import picture_and_chat_inputs
import layerdream as ld
from families import granite_docling as family  # tests/models/families


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    import transformers

    path = tmp_path_factory.mktemp("granite_docling") / "checkpoint"
    path.mkdir()
    family.build(path)
    plain = getattr(transformers, family.CLASS).from_pretrained(str(path)).eval()
    return ld.load(str(path), device="cpu"), plain


def test_layer_l_is_read_after_the_deepstack_injection(loaded):
    vlm, plain = loaded
    x, enc = picture_and_chat_inputs(vlm)
    read_next = {}
    handle = plain.model.text_model.layers[1].register_forward_pre_hook(lambda m, a: read_next.__setitem__(1, a[0]))
    try:
        with torch.no_grad():
            out = plain.model(**dict(enc), use_cache=False, output_hidden_states=True)
            ours = vlm.image_tokens(x, 1)
    finally:
        handle.remove()
    positions = vlm.image_positions()
    assert vlm.adapter.deepstack_layers == family.DEEPSTACK_LAYERS
    torch.testing.assert_close(ours, read_next[1][:, positions], rtol=0, atol=1e-5)  # what block 2 reads
    assert (ours - out.hidden_states[1][:, positions]).abs().max() > 1e-2  # not HF's pre-injection state
    assert vlm.adapter._pending is None
    assert vlm.adapter.result_notes(1)["deepstack"] == {"layer_read": "after_injection", "injected_after_layers": [1]}
