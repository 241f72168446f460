"""Gemma 3 4B's real geometry where it matters, on a CPU: SigLIP at 896 px with patch 14 and width
1152, 4x4 pooling to a 16x16 grid of 256 tokens, text width 2560 with 8 heads / 4 KV heads of 256;
one vision block and two language blocks so that a few `paper`-preset steps run in under a minute.
Tiny models cannot show what goes wrong at this size (resolutions, grid, resize, memory)."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from layerdream.synthesis import memory
from layerdream.synthesis.objective import log_spatial_prior
from layerdream.synthesis.presets import make_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma3_4b_geometry():
    from layerdream.models.gemma3 import Gemma3Adapter
    from layerdream.models.tiny import build_tiny_gemma3
    from layerdream.models.vlm import VLM

    model, _, processor = build_tiny_gemma3(
        ["red", "dog", "the", "a", "of", "is"], image_size=896, patch_size=14, mm_tokens_per_image=256,
        vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=1, num_attention_heads=16),
        text=dict(hidden_size=2560, intermediate_size=10240, num_hidden_layers=2, num_attention_heads=8,
                  num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256, sliding_window=1024,
                  layer_types=["sliding_attention", "full_attention"]))
    model.requires_grad_(False)
    return VLM(model, processor, Gemma3Adapter(model, processor), name="gemma-3-4b-geometry")


def test_geometry_grid_and_prompt(gemma3_4b_geometry):
    vlm = gemma3_4b_geometry
    assert (vlm.image_size, vlm.grid, vlm.hidden_size) == (896, (16, 16), 2560)
    assert vlm.image_positions().numel() == 256
    pixels = vlm.adapter.preprocess(torch.full((1, 3, 448, 448), 0.75))["pixel_values"]
    assert pixels.shape == (1, 3, 896, 896) and torch.allclose(pixels, torch.full_like(pixels, 0.5))  # 448 -> 896
    prior = log_spatial_prior(vlm.grid, sigma=2.0).view(16, 16)
    centre = prior[7:9, 7:9]
    assert torch.all(centre == prior.max()) and torch.equal(prior, prior.flip(0)) and torch.equal(prior, prior.flip(1))


def test_paper_preset_at_the_real_geometry(gemma3_4b_geometry):
    vlm = gemma3_4b_geometry
    cfg = make_config("paper", image_size=vlm.image_size, grid=vlm.grid, layer=1, num_layers=34)
    assert cfg.canvas == 448 and cfg.resolutions == list(range(8, 449, 20)) and len(cfg.resolutions) == 23
    assert (cfg.copies, cfg.max_shift, cfg.noise, cfg.steps, cfg.lr, cfg.tau) == (8, 56, 0.1, 600, 0.04, 0.005)
    assert (cfg.sigma(0), cfg.sigma(599)) == (2.0, 16.0)
    # a few real steps (1 copy each, to stay under a minute on one core): gradients reach the pixels
    [result] = ld.synthesize(vlm, "dog", layers=1, preset="paper", steps=2, copies=1, progress=False,
                             lr=1.0, tau=0.5, max_memory="8GiB", baseline=["the", "a", "of", "is"])
    assert result.image.shape == (3, 448, 448)
    assert (result.image - 0.5).abs().max() > 1e-3  # the parameters moved away from gray
    assert len(result.trajectory) == 2 and all(torch.isfinite(torch.tensor(t["cosine"])) for t in result.trajectory)
    assert result.config["resolutions"] == list(range(8, 449, 20))


def test_memory_model_against_saved_tensors_at_896(gemma3_4b_geometry):
    vlm = gemma3_4b_geometry
    cfg = make_config("paper", image_size=896, grid=(16, 16), layer=1, num_layers=34)
    plan = memory.plan(vlm, cfg, 1, n_targets=8, budget_bytes=40 * memory.GiB)
    assert plan.copies_per_micro_batch == 8 and plan.concepts_per_forward >= 1
    x = torch.rand(1, 3, 896, 896, requires_grad=True)
    gray = vlm.gray_reference(1)
    measured = memory.measure_saved_bytes(lambda: (vlm.image_tokens(x, 1) - gray.mean(0)).pow(2).sum(),
                                          exclude=list(vlm.model.parameters()))
    prompt_length = vlm.image_prompt()["input_ids"].shape[1]
    predicted = memory.copy_cost(vlm.model.config, 1, 896, 448, prompt_length, vlm.dtype, False, fused_attention=False).saved
    assert 0.75 < predicted / measured < 1.25, (predicted, measured)
