"""Kimi K2.5 traps the battery cannot see: the twin image processor against the installed torchvision
module's own arithmetic (``navit_resize`` and ``patchify``, taken from its source), the token order after
the tower's 2x2 window pooling, the MoE routing rule, and the released geometry."""
from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import layerdream as ld
from families import kimi_k25 as family  # tests/models/families
from moe_checks import assert_moe_routing


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kimi_k25")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def _installed(name: str):
    """A function from transformers' torchvision-only image_processing_kimi_k25.py (which cannot be imported
    here), compiled from its source."""
    package = Path(importlib.util.find_spec("transformers.models.kimi_k25").submodule_search_locations[0])
    tree = ast.parse((package / "image_processing_kimi_k25.py").read_text())
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name]
    scope = {"math": math, "torch": torch}
    exec(compile(ast.Module(body=nodes[:1], type_ignores=[]), "image_processing_kimi_k25.py", "exec"), scope)
    return scope[name]


def test_twin_resize_arithmetic_is_the_installed_navit_resize():
    theirs = _installed("navit_resize")
    for h, w in [(448, 448), (37, 45), (1000, 3000), (2000, 2000), (64, 64), (90, 13), (7168, 200)]:
        for patch, merge, budget, side in [(14, 2, 16384, 512), (8, 2, 64, 512), (14, 2, 1024, 20)]:
            assert family.navit_resize(h, w, patch, merge, budget, side) == theirs(h, w, patch, merge, budget, side)


def test_twin_patches_are_the_installed_patchify():
    patchify = _installed("patchify")
    x = torch.rand(2, 3, 32, 48)
    expected, gh, gw = patchify(None, x, 8)
    from PIL import Image
    import numpy as np

    k = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    twin = family.KimiK25ImageProcessorTwin(patch_size=8, max_patches=64)
    out = twin(images=Image.fromarray(k), return_tensors="pt")
    norm = (torch.from_numpy(k).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    assert (gh, gw) == (4, 6) and out["image_grid_thw"].tolist() == [[1, 4, 6]]
    torch.testing.assert_close(out["pixel_values"], patchify(None, norm, 8)[0][0], rtol=0, atol=1e-5)
    assert expected.shape == (2, 24, 3, 8, 8)


@pytest.mark.parametrize("corner", [(0, 0), (0, 3), (3, 0), (3, 3), (1, 2)])
def test_grid_is_row_major_after_the_window_pooling(vlm, corner):
    rows, cols = vlm.grid
    cell = vlm.image_size // rows  # 16 px: the 2x2 patches pooled into one token
    r, c = corner
    base = torch.full((1, 3, vlm.image_size, vlm.image_size), 0.5)
    poked = base.clone()
    poked[..., r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = torch.rand(3, cell, cell)
    with torch.no_grad():
        # the vision tower attends over the whole image, so read the tokens before the text model mixes them
        before = vlm.model.model.get_image_features(**vlm.adapter.preprocess(base)).pooler_output[0]
        after = vlm.model.model.get_image_features(**vlm.adapter.preprocess(poked)).pooler_output[0]
    change = (after - before).norm(dim=-1)
    assert int(change.argmax()) == r * cols + c, change.view(rows, cols)


def test_moe_routing_is_per_token_and_differentiable(vlm):
    assert_moe_routing(vlm, 2, routers=[block.mlp.gate for block in vlm.layers])
    assert vlm.adapter.result_notes(2)["moe_routing"].startswith("per-token top-2 of 4 experts (sigmoid router")


def test_released_geometry_is_448_px_16x16():
    from transformers import Kimi_K25Config

    from layerdream.models.kimi_k25 import KimiK25Adapter

    model, processor = family.build_model_and_processor(layers=1)
    processor.image_processor = family.KimiK25ImageProcessorTwin()  # the class defaults: patch 14, 16384 patches
    adapter = KimiK25Adapter(SimpleNamespace(config=Kimi_K25Config()), processor)
    assert adapter.image_size == 448 and adapter.grid == (16, 16)
    assert family.navit_resize(448, 448, 14, 2, 16384, 512) == ((448, 448), (448, 448))  # neither resized nor padded
