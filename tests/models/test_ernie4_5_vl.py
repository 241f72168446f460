"""ERNIE 4.5-VL's trap: modality routing. Our image states after the sparse block equal the model's own
from the processor's full output (``moe_mm_token_type_ids`` included), and without the routing they differ."""
from __future__ import annotations

import torch

from model_checks import picture_and_chat_inputs
import layerdream as ld
from families import ernie4_5_vl_moe as family  # tests/models/families


def test_image_states_take_the_vision_experts(tmp_path):
    import transformers
    family.build(tmp_path)
    vlm = ld.load(str(tmp_path), device="cpu")
    plain = getattr(transformers, family.CLASS).from_pretrained(str(tmp_path)).eval()
    x, enc = picture_and_chat_inputs(vlm)
    assert enc["moe_mm_token_type_ids"].sum() == vlm.image_positions().numel() + 2  # image tokens + start/end
    layer = 2  # block 2 is the sparse one
    outputs = []
    handle = plain.model.language_model.layers[layer - 1].register_forward_hook(lambda m, a, o: outputs.append(o[0] if isinstance(o, tuple) else o))
    try:
        with torch.no_grad():
            plain.model(**enc, use_cache=False)
            plain.model(**{k: v for k, v in enc.items() if k != "moe_mm_token_type_ids"}, use_cache=False)
            ours = vlm.image_tokens(x, layer)
    finally:
        handle.remove()
    positions = vlm.image_positions()
    routed, unrouted = outputs[0][:, positions], outputs[1][:, positions]
    torch.testing.assert_close(ours, routed, rtol=0, atol=1e-5)
    assert (ours - unrouted).abs().max() > 1e-3  # the text experts would give other states
