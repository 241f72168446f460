"""MiniCPM-V 4.6 / 4.7 / MiniCPM-OCR traps the battery cannot see: a batch of different images packed into one
patch strip gives each image the states the model gives it when called as a user calls it (processor output,
and for 4.7 the canvas M-RoPE positions the model builds itself from ``mm_token_type_ids``); our calls leave 4.7's
cached ``rope_deltas`` alone; the tokens are a row-major grid over the image; and the checkpoints whose geometry
is not one fixed view are refused in one line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from families import minicpm_ocr, minicpmv4_6, minicpmv4_7  # tests/models/families

from layerdream.errors import UserError
from layerdream.models.minicpmv import MiniCPMV4_7Adapter, MiniCPMVAdapter
from layerdream.models.vlm import VLM

BUILDERS = {"minicpmv4_6": (minicpmv4_6, MiniCPMVAdapter), "minicpmv4_7": (minicpmv4_7, MiniCPMV4_7Adapter),
            "minicpm_ocr": (minicpm_ocr, MiniCPMVAdapter)}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request):
    torch.set_num_threads(1)
    module, adapter_cls = BUILDERS[request.param]
    model, processor = module.build_model_and_processor()  # linear / full / linear attention blocks
    return request.param, model, processor, adapter_cls


def test_a_packed_batch_equals_the_model_called_on_each_image(built):
    """Two different pictures in one strip: each image's layer-2 states (after the full-attention block, the first
    that reads positions) equal the model's own call on the
    processor's encoding of that picture (pixels, target_sizes, and for 4.7 ``mm_token_type_ids``, from which the
    model builds the canvas positions itself). Fails if the strip interleaves images or if 4.7's image tokens get
    1-D positions."""
    variant, model, processor, adapter_cls = built
    vlm = VLM(model, processor, adapter_cls(model, processor), name=variant)
    size = vlm.image_size
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2)]
    x = torch.stack([torch.from_numpy(k).permute(2, 0, 1).float() / 255 for k in pictures])
    with torch.no_grad():
        ours = vlm.image_tokens(x, 2)
    positions = vlm.image_positions()
    for i, k in enumerate(pictures):
        enc = processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": Image.fromarray(k)}]}],
                                            add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
        assert ("mm_token_type_ids" in enc) == (variant == "minicpmv4_7")
        with torch.no_grad():
            theirs = model.model(**enc, use_cache=False, output_hidden_states=True).hidden_states[2][0, positions]
        torch.testing.assert_close(ours[i], theirs.float(), atol=1e-4, rtol=1e-4)


def test_minicpmv4_7_calls_leave_rope_deltas_alone():
    """Every image call passes ``position_ids``: the model's position code never runs, so it neither reads nor
    overwrites the ``rope_deltas`` a user's ``generate`` left on the module."""
    torch.set_num_threads(1)
    model, processor = minicpmv4_7.build_model_and_processor(layers=2)
    vlm = VLM(model, processor, MiniCPMV4_7Adapter(model, processor), name="minicpmv4_7")
    sentinel = torch.tensor([[123]])
    model.model.rope_deltas = sentinel
    with torch.no_grad():
        vlm.image_tokens(torch.rand(3, 3, vlm.image_size, vlm.image_size), 1)
    assert model.model.rope_deltas is sentinel


def test_tokens_are_a_row_major_grid(built):
    """With the towers' attention switched off, each token sees only its own block of patches: changing the
    pixels of block (r, c) changes token r * side + c and no other (window merger + MLP merger, row-major)."""
    variant, model, processor, adapter_cls = built
    adapter = adapter_cls(model, processor)
    tower = model.model.vision_tower
    saved = {}
    for name, module in tower.named_modules():
        if name.endswith("self_attn.out_proj"):
            saved[name] = (module.weight.detach().clone(), module.bias.detach().clone())
            with torch.no_grad():
                module.weight.zero_()
                module.bias.zero_()
    try:
        side, unit = adapter.side, adapter.patch * adapter.merge
        x = torch.rand(1, 3, adapter.image_size, adapter.image_size, generator=torch.Generator().manual_seed(0))
        r, c = side - 1, 1 if side > 1 else 0
        y = x.clone()
        y[..., r * unit:(r + 1) * unit, c * unit:(c + 1) * unit] = 1 - y[..., r * unit:(r + 1) * unit, c * unit:(c + 1) * unit]

        def features(images):
            pixels = adapter.preprocess(images)
            with torch.no_grad():
                return torch.cat(model.model.get_image_features(**pixels).pooler_output)

        changed = (features(x) - features(y)).abs().amax(-1) > 1e-6
        assert changed.nonzero().flatten().tolist() == [r * side + c]
    finally:
        for name, (w, b) in saved.items():
            module = tower.get_submodule(name)
            with torch.no_grad():
                module.weight.copy_(w)
                module.bias.copy_(b)


@pytest.mark.parametrize("attribute,value,match", [
    ("downsample_mode", "other", "downsample_mode"),  # the processor would count the other mode's tokens
    ("scale_resolution", 44, "not a multiple"),  # 44 px rounds up to 48 (3 x 16, 6 x 8): sliced, not one view
    ("small_image_upsize", "adaptive", "small_image_upsize"),  # MiniCPM-OCR: the size would follow the picture
    ("patch_size", 8, "patches"),
])
def test_checkpoints_without_one_fixed_view_are_refused(built, attribute, value, match):
    variant, model, processor, adapter_cls = built
    ip = processor.image_processor
    missing = object()
    saved = ip.__dict__.get(attribute, missing)
    if attribute == "downsample_mode":
        value = "16x" if model.config.downsample_mode == "4x" else "4x"
    setattr(ip, attribute, value)
    try:
        with pytest.raises(UserError, match=match):
            adapter_cls(model, processor)
    finally:
        if saved is missing:
            delattr(ip, attribute)
        else:
            setattr(ip, attribute, saved)
