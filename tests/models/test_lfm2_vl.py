"""LFM2-VL traps the battery cannot see: the twin image processor's arithmetic (the fixed square is its own
smart_resize, small photos are upscaled to the token floor), another token budget moves the square, and
the NaFlex patch layout is the model's (2 x 2 blocks of patches, row-major, are the tokens)."""
from __future__ import annotations

import numpy as np
import torch

from families import lfm2_vl as family  # tests/models/families
from families.lfm2_vl import Lfm2VlImageProcessorTwin


def test_twin_smart_resize_and_budget():
    twin = Lfm2VlImageProcessorTwin()
    assert twin.target(512, 512) == (512, 512) and not twin.too_large(512, 512)  # the fixed square: unchanged
    assert twin.too_large(1024, 1024)  # 4x the budget: the tiling path (not reproduced)
    h, w = twin.target(37, 45)  # 37 x 45 rounds to 32 x 32 = 1 token < 64: scaled up to the floor
    assert h % 32 == 0 and w % 32 == 0 and (h // 32) * (w // 32) >= 64
    assert twin.max_num_patches == 1024


def test_another_token_budget_moves_the_square():
    from PIL import Image

    from layerdream.models.lfm2_vl import Lfm2VlAdapter

    torch.set_num_threads(1)
    model, processor = family.build_model_and_processor()
    processor.image_processor = Lfm2VlImageProcessorTwin(max_image_tokens=64, min_image_tokens=16)
    adapter = Lfm2VlAdapter(model, processor)
    assert adapter.grid == (8, 8) and adapter.image_size == 256
    k = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    theirs = processor.image_processor(images=Image.fromarray(k), return_tensors="pt")
    ours = adapter.preprocess(torch.from_numpy(k).permute(2, 0, 1)[None].float() / 255)
    assert ours["pixel_values"].shape == theirs["pixel_values"].shape == (1, 1024, 768)  # padded to 1024 (tile 512)
    assert (ours["pixel_values"] - theirs["pixel_values"]).abs().max() < 1e-5
    assert torch.equal(ours["pixel_attention_mask"], theirs["pixel_attention_mask"])
    assert ours["pixel_attention_mask"].sum() == 256 and ours["spatial_shapes"].tolist() == [[16, 16]]


def test_tokens_are_row_major_blocks_of_patches():
    """The model's own gather: token t holds the 2 x 2 block of patches at block row t // 16, column t % 16."""
    torch.set_num_threads(1)
    model, processor = family.build_model_and_processor()
    from layerdream.models.lfm2_vl import Lfm2VlAdapter

    adapter = Lfm2VlAdapter(model, processor)
    inputs = adapter.preprocess(torch.rand(1, 3, 512, 512))
    captured = {}
    tower = model.model.vision_tower
    marker = torch.arange(1024, dtype=torch.float32)[None, :, None].expand(1, 1024, tower.config.hidden_size)

    def replace(module, args, kwargs, output):
        output.last_hidden_state = marker.clone()
        return output

    projector = model.model.multi_modal_projector
    handle = tower.register_forward_hook(replace, with_kwargs=True)
    grab = projector.register_forward_pre_hook(lambda m, a: captured.setdefault("grid", a[0]))
    try:
        with torch.no_grad():
            model.model.get_image_features(**inputs)
    finally:
        handle.remove()
        grab.remove()
    # the projector gets every token's 2 x 2 block side by side in one 2-row strip of patches (tokens in
    # sequence order along it): the strip's first 32 columns are tokens 0..15, i.e. patch rows 0-1, columns 0..31
    grid = captured["grid"][0, :, :, 0]
    patch_rows = (grid // 32).long()
    patch_cols = (grid % 32).long()
    assert torch.equal(patch_rows[0, :32], torch.zeros(32, dtype=torch.long))
    assert torch.equal(patch_rows[1, :32], torch.ones(32, dtype=torch.long))
    assert torch.equal(patch_cols[0, :32], torch.arange(32))
    assert adapter.grid == (16, 16)
