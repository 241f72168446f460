"""dots3.note: what the battery cannot see. Each result records the routing / sparse-attention rule layer l was
read under, and a raw prompt (no template) holds the processor's own image token, not Qwen's vision markers
(which dots' vocabulary lacks)."""
from __future__ import annotations

import pytest

import layerdream as ld
from families import dots3_note as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dots3_note")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_each_result_records_the_routing_rule(vlm):
    [result] = ld.synthesize(vlm, "red", layers=[1], seeds=[0], steps=2, preset="fast", progress=False)
    assert result.config["moe_routing"].startswith("per-token top-2 of 4 routed experts")
    assert "1 MoE ViT layers" in result.config["moe_routing"]
    assert result.config["sparse_attention"] == "indexed_attention layers keep each query's top 2048 keys"


def test_raw_prompt_holds_the_processors_image_token(vlm):
    ids = vlm.image_prompt("raw")["input_ids"][0].tolist()
    assert vlm.tokenizer.unk_token_id not in ids
    assert ids.count(vlm.model.config.image_token_id) == vlm.grid[0] * vlm.grid[1]
