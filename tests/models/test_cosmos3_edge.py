"""Cosmos 3 Edge traps: its processor omits mm_token_type_ids by default although the model needs them
(our prompt asks for them), and our explicit positions give the model's own states."""
from __future__ import annotations

import pytest
import torch

from model_checks import picture_and_chat_inputs
import layerdream as ld
from families import cosmos3_edge as family  # tests/models/families


def test_positions_and_the_missing_mm_token_type_ids(tmp_path):
    family.build(tmp_path)
    vlm = ld.load(str(tmp_path), device="cpu")
    x, default = picture_and_chat_inputs(vlm)
    ours = vlm.image_tokens(x, 1)
    assert "mm_token_type_ids" not in default
    with torch.no_grad(), pytest.raises(ValueError, match="mm_token_type_ids"):
        vlm.model.model(**default, use_cache=False)
    _, enc = picture_and_chat_inputs(vlm, processor_kwargs={"return_mm_token_type_ids": True})
    with torch.no_grad():
        vlm.model.model.rope_deltas = None
        theirs = vlm.model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)
