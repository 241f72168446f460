"""MiniMax-M3-VL traps the battery cannot see: its torchvision-only image processor is Qwen2-VL's with other
size defaults (read from the installed sources, so the PIL backend of Qwen2-VL's processor stands in for it
honestly), the released geometry, the image block's markers, and the MoE routing rule."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

import layerdream as ld
from families import minimax_m3_vl as family  # tests/models/families
from moe_checks import assert_moe_routing


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("minimax_m3_vl")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def _members(module: str, cls: str) -> dict[str, str]:
    package, name = module.rsplit(".", 1)
    path = Path(importlib.util.find_spec(package).submodule_search_locations[0]) / f"{name}.py"
    node = next(n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef) and n.name == cls)
    out = {}
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            out[item.name] = ast.unparse(item)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            target = item.targets[0] if isinstance(item, ast.Assign) else item.target
            out[ast.unparse(target)] = ast.unparse(item.value)
    return out


def test_the_image_processor_is_qwen2_vls_with_other_size_defaults():
    minimax = _members("transformers.models.minimax_m3_vl.image_processing_minimax_m3_vl", "MiniMaxM3VLImageProcessor")
    qwen = _members("transformers.models.qwen2_vl.image_processing_qwen2_vl", "Qwen2VLImageProcessor")
    differing = {k for k in set(minimax) | set(qwen) if minimax.get(k) != qwen.get(k)}
    # size: the defaults; __init__: a saved [672, 672] replaced by them; preprocess / valid_kwargs: the kwargs class name
    assert differing == {"size", "__init__", "preprocess", "valid_kwargs"}
    assert minimax["size"] == "{'shortest_edge': 4 * 28 * 28, 'longest_edge': 451584}"
    assert minimax["preprocess"].replace("MiniMaxM3VL", "Qwen2VL") == qwen["preprocess"]


def test_released_geometry_is_448_px_16x16():
    from transformers import MiniMaxM3VLConfig
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.minimax_m3_vl import MiniMaxM3VLAdapter

    processor = family.build_processor()
    processor.image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 4 * 28 * 28, "longest_edge": 451584})
    adapter = MiniMaxM3VLAdapter(SimpleNamespace(config=MiniMaxM3VLConfig()), processor)  # the release's tower
    assert adapter.image_size == 448 and adapter.grid == (16, 16)


def test_image_block_is_start_tokens_end(vlm):
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    start = ids.index(tok("]<]start of image[>["))
    assert ids[start + 1:start + 17] == [tok("]<]image[>[")] * 16 and ids[start + 17] == tok("]<]end of image[>[")
    raw = vlm.image_prompt("raw")["input_ids"][0].tolist()  # the raw prompt hands the processor its placeholder
    assert raw.count(tok("]<]image[>[")) == 16 and raw.count(tok("]<]start of image[>[")) == 1


def test_moe_routing_is_per_token_and_differentiable(vlm):
    assert_moe_routing(vlm, 2, routers=[block.mlp.gate for block in vlm.layers])
    notes = vlm.adapter.result_notes(2)
    assert notes["moe_routing"].startswith("per-token top-2 of 4 experts (sigmoid router)")
    assert notes["sparse_attention_blocks"] == [1]
