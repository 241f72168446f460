"""HyperCLOVA X SEED Vision: with Qwen2.5-VL's tower and pixels but 1-D text positions, our image states equal
the model's own from the processor's output (no M-RoPE positions are built or passed: the model has no
``get_rope_index``)."""
from __future__ import annotations

import numpy as np
import torch

import layerdream as ld
from families import hyperclovax_vision_v2 as family  # tests/models/families


def test_image_states_equal_the_models_own(tmp_path):
    from PIL import Image

    family.build(tmp_path)
    vlm = ld.load(str(tmp_path), device="cpu")
    assert "position_ids" not in vlm.image_prompt()
    array = np.random.default_rng(0).integers(0, 256, (vlm.image_size, vlm.image_size, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    ours = vlm.image_tokens(x, 1)
    enc = dict(vlm.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(array)}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"))
    enc.pop("mm_token_type_ids", None)
    with torch.no_grad():
        theirs = vlm.model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[1][:, vlm.image_positions()]
    torch.testing.assert_close(ours, theirs.float(), rtol=0, atol=1e-5)
