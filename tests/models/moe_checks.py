"""Checks for families whose text model is a mixture of experts (a plain module, importable from
tests/models): routing is part of the forward the early exit runs, per token, and the gradient that
reaches the pixels flows through the routed experts and their router."""
from __future__ import annotations

from contextlib import contextmanager

import torch


def routed_experts(vlm, layer: int) -> list[torch.nn.Module]:
    """The routed-experts modules (transformers' fused ``*Experts``: one 3-D weight per projection) of
    blocks 1..layer."""
    found = []
    for block in list(vlm.layers)[:layer]:
        found += [m for m in block.modules() if type(m).__name__.endswith("Experts")
                  and any(p.dim() == 3 for p in m.parameters(recurse=False))]
    return found


@contextmanager
def _trainable(params):
    params = list(params)
    for p in params:
        p.requires_grad_(True)
        p.grad = None
    try:
        yield params
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None


def assert_moe_routing(vlm, layer: int, routers=(), size: int | None = None) -> None:
    """At ``layer`` (after at least one sparse block): (1) an image's tokens are the same alone and in a
    batch (per-token routing, no capacity coupling across images); (2) the gradient of the image tokens
    reaches more than one routed expert's weights (the experts are in the differentiable path, and the
    router does spread the image's tokens) and, where given, the ``routers``' weights (through the gate
    values), while it reaches the pixels."""
    size = size or vlm.image_size
    experts = routed_experts(vlm, layer)
    assert experts, "no routed experts in the blocks the early exit runs"
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        both = vlm.image_tokens(images, layer)
        alone = torch.cat([vlm.image_tokens(images[i:i + 1], layer) for i in range(2)])
    assert torch.allclose(both, alone, atol=1e-5)
    weights = [p for m in experts for p in m.parameters(recurse=False) if p.dim() == 3]
    router_weights = [m.weight for m in routers]
    x = images[:1].clone().requires_grad_(True)
    with _trainable(weights + router_weights):
        vlm.image_tokens(x, layer).pow(2).mean().backward()
        hit = {(i, e) for i, p in enumerate(weights) for e in range(p.shape[0]) if p.grad[e].abs().sum() > 0}
        assert len({e for _, e in hit}) > 1, "the image's tokens reach one expert only (or none)"
        for w in router_weights:
            assert w.grad is not None and w.grad.abs().sum() > 0, "no gradient through the router's gate values"
    assert x.grad is not None and x.grad.abs().sum() > 0
