"""Patch embeddings (a convolution whose stride equals its kernel) as one matrix product.

Why: the vision towers of SigLIP, CLIP and InternViT cut the image into p x p patches with a Conv2d
of kernel = stride = p. On a CPU, that convolution's input gradient (which synthesis needs every
step: the gradient goes to the pixels) ran at a small fraction of the rate of the tower's matmuls:
16 ms of a 0.3 GFLOP step part, 22 % of the step's fixed cost at layer 1 (issue 19.10). Non-
overlapping patches need no im2col: the patches are a reshape and one permute of the image, and the
convolution is then ``patches @ W.T + b``, one matmul forward and one backward.

The same sums in another order: equal to the convolution to fp32 rounding (tested,
tests/models/test_patch_embed.py). Installed by :class:`~layerdream.models.vlm.VLM` on every
qualifying ``nn.Conv2d`` of the model by replacing that module's ``forward`` (the module, its weights
and its state-dict keys stay as they are); a convolution with padding, dilation, groups or a stride
other than its kernel keeps PyTorch's.
"""
from __future__ import annotations

import types

import torch
from torch import nn

#: set on a module whose forward is the matmul form, so installing twice is a no-op
MARK = "_layerdream_patch_matmul"


def qualifies(module: nn.Module) -> bool:
    """A Conv2d with non-overlapping patches: stride = kernel, no padding, dilation 1, groups 1."""
    return (type(module) is nn.Conv2d and tuple(module.stride) == tuple(module.kernel_size)
            and (module.padding == "valid" or all(p == 0 for p in module.padding))  # SigLIP: "valid"
            and tuple(module.dilation) == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros")


def patch_matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride=kernel)`` for (N, C, H, W) x as one matmul; a remainder of H or W
    that fills no whole patch is dropped, as the convolution drops it."""
    n, c, h, w = x.shape
    out, _, p, q = weight.shape
    rows, cols = h // p, w // q
    if h != rows * p or w != cols * q:
        x = x[..., : rows * p, : cols * q]
    patches = x.reshape(n, c, rows, p, cols, q).permute(0, 2, 4, 1, 3, 5).reshape(n * rows * cols, c * p * q)
    flat = weight.reshape(out, c * p * q).t()
    y = torch.addmm(bias, patches, flat) if bias is not None else patches @ flat
    # (N, out, rows, cols) as the convolution returns it; a view, so the tower's flatten(2).transpose(1, 2)
    # gets back the matmul's own contiguous (N, rows * cols, out) without a copy
    return y.view(n, rows * cols, out).transpose(1, 2).view(n, out, rows, cols)


def _forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 4:
        return nn.Conv2d.forward(self, x)
    return patch_matmul(x, self.weight, self.bias)


def install(model: nn.Module) -> int:
    """Give every qualifying Conv2d of ``model`` the matmul forward; the number of modules changed."""
    changed = 0
    for module in model.modules():
        if qualifies(module) and not getattr(module, MARK, False):
            module.forward = types.MethodType(_forward, module)
            setattr(module, MARK, True)
            changed += 1
    return changed


__all__ = ["install", "patch_matmul", "qualifies"]
