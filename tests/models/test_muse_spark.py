"""Muse Spark traps the battery cannot see: MoE routing is per token (an image's tokens after two sparse blocks
are the same alone as in a batch, while the router does spread them over experts), and the rule is recorded in
each result's config."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import muse_spark as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("muse_spark") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_moe_routing_is_per_token_and_recorded(vlm):
    from layerdream.synthesis.loop import result_config
    from layerdream.synthesis.presets import make_config

    images = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    with torch.no_grad():
        both = vlm.image_tokens(images, 2)
        alone = torch.cat([vlm.image_tokens(images[i:i + 1], 2) for i in range(2)])
    torch.testing.assert_close(both, alone, rtol=0, atol=1e-5)
    chosen = []
    handles = [block.mlp.gate.register_forward_hook(lambda m, a, out: chosen.append(out[2])) for block in vlm.layers]
    try:
        with torch.no_grad():
            vlm.image_tokens(images[:1], 2)
    finally:
        for handle in handles:
            handle.remove()
    assert chosen and chosen[0].unique().numel() > 2  # top-2 of 4: more than one pair of experts in use
    cfg = make_config("fast", image_size=vlm.image_size, grid=vlm.grid, layer=2, num_layers=vlm.num_layers)
    assert "per-token top-2 of 4 experts" in result_config(vlm, cfg, 2, 0)["moe_routing"]
