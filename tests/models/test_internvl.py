"""InternVL traps the family battery cannot see: dynamic tiling, the token grid's order after the pixel
shuffle, the tower's CLS token in the memory model, the real 448-px geometry, and InternVL 3.5's
Qwen3 text model."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import layerdream as ld
from families import internvl  # tests/models/families/internvl.py
from layerdream.errors import UserError
from layerdream.models.internvl import InternVLAdapter
from layerdream.synthesis.presets import make_config


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("internvl")
    internvl.build(path)
    return path


@pytest.fixture(scope="module")
def vlm(folder):
    return ld.load(str(folder), device="cpu")


def _real_geometry_adapter():
    """InternVL3-1B-hf's geometry (the config defaults: InternViT 448/14, ratio 0.5) with a real
    processor at 448 px and 256 tokens per tile; no weights are needed for geometry."""
    from transformers import InternVLConfig

    processor = internvl.build_processor(image_size=448, tokens=256)
    return InternVLAdapter(SimpleNamespace(config=InternVLConfig()), processor), processor


def test_real_geometry_is_one_448_tile_of_16x16_tokens():
    adapter, processor = _real_geometry_adapter()
    assert adapter.image_size == 448 and adapter.grid == (16, 16)
    prompt = adapter.image_prompt("chat")["input_ids"][0]
    assert (prompt == processor.image_token_id).sum() == 256
    cfg = make_config("paper", image_size=448, grid=adapter.grid, layer=1, num_layers=28)
    assert cfg.canvas == 224 and cfg.sigma_end == 16


def test_the_processor_would_tile_other_shapes_but_the_prompt_image_is_one_tile():
    _, processor = _real_geometry_adapter()
    wide = processor(text="<IMG_CONTEXT>", images=Image.new("RGB", (896, 448)), return_tensors="pt")
    assert wide["pixel_values"].shape[0] == 3  # 2 tiles + thumbnail: the dynamic tiling layerdream avoids
    square = processor(text="<IMG_CONTEXT>", images=Image.new("RGB", (448, 448)), return_tensors="pt")
    assert square["pixel_values"].shape[0] == 1


def test_a_tiler_that_splits_the_square_tile_is_refused_in_one_line(tmp_path):
    internvl.build(tmp_path)
    config_file = tmp_path / "processor_config.json"
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["min_patches"] = 2  # the processor defaults crop_to_patches on: 2x2 tiles + thumbnail
    config_file.write_text(json.dumps(saved))
    with pytest.raises(UserError, match="tiles a square 32-px image into 5 tiles"):
        ld.load(str(tmp_path), device="cpu")


@pytest.mark.parametrize("corner", [(0, 0), (0, 3), (3, 0), (3, 3), (1, 2)])
def test_grid_is_row_major_after_the_pixel_shuffle(vlm, corner):
    rows, cols = vlm.grid
    cell = vlm.image_size // rows  # 8 px: the 2x2 patches that shuffle into one token
    r, c = corner
    base = torch.full((1, 3, vlm.image_size, vlm.image_size), 0.5)
    poked = base.clone()
    poked[..., r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = torch.rand(3, cell, cell)
    with torch.no_grad():
        change = (vlm.image_tokens(poked, 1) - vlm.image_tokens(base, 1))[0].norm(dim=-1)
    assert int(change.argmax()) == r * cols + c, change.view(rows, cols)


def test_memory_model_counts_patches_plus_cls(vlm):
    dims = vlm.adapter.vision_dims()
    assert dims.tokens == (32 // 4) ** 2 + 1 and dims.width == 32 and dims.layers == 2 and dims.heads == 2


def test_internvl35_qwen3_text_model(tmp_path):
    internvl.build(tmp_path, text_model="qwen3")
    model = ld.load(str(tmp_path), device="cpu")
    assert model.model.config.text_config.model_type == "qwen3"
    images = torch.rand(2, 3, model.image_size, model.image_size)
    prompt = model.image_prompt()
    with torch.no_grad():
        early = model.image_tokens(images, 1)
        inputs = model.adapter.forward_inputs(prompt, model.adapter.preprocess(images), 2)
        full = model.backbone(**inputs, use_cache=False, output_hidden_states=True).hidden_states[1]
    assert torch.allclose(early, full[:, model.image_positions()], atol=1e-5)
