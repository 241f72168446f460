"""Mistral Large 4 traps the battery cannot see: its MoE text model's routing (per token, inside the
early-exit forward, differentiable through the chosen experts and their gate), recorded in results, and
the DSA indexer, which keeps every key of a prompt shorter than ``index_topk`` (the released geometry)."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import mistral_large4 as family  # tests/models/families
from moe_checks import assert_moe_routing


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mistral_large4")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_moe_routing_is_per_token_and_differentiable(vlm):
    assert_moe_routing(vlm, 2, routers=[block.mlp.gate for block in vlm.layers])
    notes = vlm.adapter.result_notes(2)
    assert notes["moe_routing"].startswith("per-token top-2 of 4 experts (softmax router) + 1 shared")
    assert notes["dsa_index_topk"] == 2048


def test_the_indexer_is_dense_below_index_topk_and_sparse_above(vlm):
    """A checkpoint whose index_topk is below the prompt's length attends to fewer keys: other states. The
    released index_topk (2048) is above the image prompt at the fixed geometry (16 rows of 16 [IMG] + a
    break/end token, plus the template), so there attention over the prompt is dense."""
    images = torch.rand(1, 3, vlm.image_size, vlm.image_size, generator=torch.Generator().manual_seed(1))
    length = vlm.image_prompt()["input_ids"].shape[1]
    with torch.no_grad():
        dense = vlm.image_tokens(images, 2)
        for block in vlm.layers:
            block.self_attn.indexer.index_topk = 4
        try:
            sparse = vlm.image_tokens(images, 2)
        finally:
            for block in vlm.layers:
                block.self_attn.indexer.index_topk = 2048
    assert length > 4 and (dense - sparse).abs().max() > 1e-4
    released = 16 * (16 + 1) + 16  # the image block plus a generous template
    from transformers import MistralLarge4TextConfig

    assert MistralLarge4TextConfig().index_topk > released
