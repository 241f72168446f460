"""Cosmos 3 Edge traps: its processor omits mm_token_type_ids by default although the model needs them
(our prompt asks for them), and our explicit positions give the model's own states."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerdream as ld
from families import cosmos3_edge as family  # tests/models/families


def test_positions_and_the_missing_mm_token_type_ids(tmp_path):
    from PIL import Image

    family.build(tmp_path)
    vlm = ld.load(str(tmp_path), device="cpu")
    array = np.random.default_rng(0).integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    ours = vlm.image_tokens(x, 1)
    messages = [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(array)}]}]
    default = dict(vlm.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                     return_tensors="pt"))
    assert "mm_token_type_ids" not in default
    with torch.no_grad(), pytest.raises(ValueError, match="mm_token_type_ids"):
        vlm.model.model(**default, use_cache=False)
    enc = dict(vlm.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                 return_tensors="pt", processor_kwargs={"return_mm_token_type_ids": True}))
    with torch.no_grad():
        vlm.model.model.rope_deltas = None
        theirs = vlm.model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)
