"""bf16 weights and activations (the GPU default), with centring, aggregation and the cosine in fp32:
the objective a bf16 model sees must be the fp32 objective to 1e-2, and every result says its dtype."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from layerdream.synthesis.objective import aggregate, centre, cosine_objective


@pytest.fixture(scope="module")
def pair(tiny_folder):
    return {dtype: ld.load(str(tiny_folder), device="cpu", dtype=dtype) for dtype in ("float32", "bfloat16")}


def test_bf16_and_fp32_give_the_same_cosine(pair):
    torch.manual_seed(0)
    images = torch.rand(4, 3, 32, 32)
    cosines = {}
    for dtype, vlm in pair.items():
        assert vlm.dtype == getattr(torch, dtype)
        target = ld.concept_vectors(vlm, ["red", "blue", "dog", "cat"], 2)
        tokens = vlm.image_tokens(images, 2)
        assert tokens.dtype == torch.float32 and target.dtype == torch.float32  # the objective runs in fp32
        z = centre(tokens, vlm.gray_reference(2))
        rep = aggregate(z, target, vlm.grid, sigma=2.0, tau=0.1)
        cosines[dtype] = cosine_objective(rep, target)[1]
    assert (cosines["float32"] - cosines["bfloat16"]).abs().max() < 1e-2
    assert cosines["float32"].abs().max() > 0.05  # not trivially equal because both are zero


def test_bf16_synthesis_runs_and_records_its_dtype(pair):
    [r32] = ld.synthesize(pair["float32"], "red", steps=10, preset="fast", progress=False)
    [r16] = ld.synthesize(pair["bfloat16"], "red", steps=10, preset="fast", progress=False)
    assert r32.config["dtype"] == "float32" and r16.config["dtype"] == "bfloat16"
    assert r32.config["fingerprint"] != r16.config["fingerprint"]  # another dtype is another image
    assert r16.cosine_final > r16.cosine_initial
    assert r16.image.dtype == torch.float32
