"""Mistral 3 traps the battery cannot see: the torchvision-free loading of PixtralProcessor (a pure
helper it imports from a torchvision-only module has identical source in the PIL module), the
``[IMG_BREAK]``/``[IMG_END]`` layout, the patch merger's row-major order, and the released geometry."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import layerdream as ld
from families import mistral3 as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mistral3") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def _functions(path: Path) -> dict[str, str]:
    return {n.name: ast.unparse(n) for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}


def test_the_helpers_taken_from_the_pil_module_have_the_torchvision_modules_source():
    from layerdream.models.processors import TORCHVISION_ONLY_HELPERS

    for name, (pil_name, helpers, _, _) in TORCHVISION_ONLY_HELPERS.items():
        origin = lambda module: Path(importlib.util.find_spec(module.rsplit(".", 1)[0]).submodule_search_locations[0]) / (  # noqa: E731
            module.rsplit(".", 1)[1] + ".py")
        theirs, ours = _functions(origin(name)), _functions(origin(pil_name))
        for helper in helpers:
            assert theirs[helper] == ours[helper], helper


def test_prompt_rows_end_with_img_break_and_the_grid_is_the_img_tokens(vlm):
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    img, brk, end = tok("[IMG]"), tok("[IMG_BREAK]"), tok("[IMG_END]")
    rows, cols = vlm.grid
    start = ids.index(img)
    block = ids[start:start + rows * (cols + 1)]
    expected = ([img] * cols + [brk]) * (rows - 1) + [img] * cols + [end]
    assert block == expected
    positions = vlm.image_positions()
    assert positions.numel() == rows * cols and all(ids[p] == img for p in positions.tolist())


def test_the_patch_merger_walks_windows_row_major(vlm):
    """Feature k of the merger's output comes from 2x2 window (k // cols, k % cols) of the patch grid."""
    import copy

    merger = copy.deepcopy(vlm.model.model.multi_modal_projector.patch_merger)  # the checkpoint stays as it is
    rows, cols = vlm.grid
    side = vlm.image_size // family.PATCH
    d = merger.merging_layer.in_features // 4
    window = torch.arange(side)[:, None] // 2 * cols + torch.arange(side)[None, :] // 2  # window index per patch
    features = window.flatten().float()[:, None].expand(-1, d).contiguous()
    with torch.no_grad():
        merger.merging_layer.weight.zero_()
        merger.merging_layer.weight[0, 0] = 1.0  # read one input channel: the window index of its first patch
        out = merger(features, torch.tensor([[vlm.image_size, vlm.image_size]]))
    assert torch.equal(out[:, 0], torch.arange(rows * cols, dtype=torch.float32))


def test_released_geometry_is_448_px_of_16x16_tokens():
    """Mistral Small 3.1's processor (patch 14, longest_edge 1540, merge 2) with a tiny tower: a 448-px
    square, pixels equal to the processor's (no resize), 256 [IMG] tokens."""
    from layerdream.models.processors import provide_torchvision_free_helpers

    provide_torchvision_free_helpers()
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil
    from transformers.models.pixtral.processing_pixtral import PixtralProcessor

    from layerdream.models.mistral3 import Mistral3Adapter
    from layerdream.models.vlm import VLM

    _, processor = family.build_model_and_processor()
    tok = processor.tokenizer
    ip = PixtralImageProcessorPil(patch_size={"height": 14, "width": 14}, size={"longest_edge": 1540})
    processor = PixtralProcessor(image_processor=ip, tokenizer=tok, patch_size=14, spatial_merge_size=2,
                                 chat_template=family.CHAT_TEMPLATE)
    config = Mistral3Config(
        vision_config=dict(model_type="pixtral", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=1, head_dim=16, image_size=1540, patch_size=14),
        text_config=dict(model_type="mistral", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         sliding_window=None, max_position_embeddings=1024),
        image_token_index=tok.convert_tokens_to_ids("[IMG]"))
    torch.manual_seed(0)
    model = Mistral3ForConditionalGeneration(config).eval().requires_grad_(False)
    vlm = VLM(model, processor, Mistral3Adapter(model, processor), name="mistral3-geometry")
    assert (vlm.image_size, vlm.grid) == (448, (16, 16)) and vlm.image_positions().numel() == 256
    from PIL import Image

    array = np.random.default_rng(0).integers(0, 256, (448, 448, 3), dtype=np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    theirs = ip(images=Image.fromarray(array), return_tensors="pt")
    ours = vlm.adapter.preprocess(x)
    torch.testing.assert_close(ours["pixel_values"], theirs["pixel_values"], rtol=0, atol=1e-5)
    assert torch.equal(ours["image_sizes"], theirs["image_sizes"])
    x.requires_grad_(True)
    vlm.image_tokens(x, 1).pow(2).mean().backward()
    assert x.grad.abs().sum() > 0
