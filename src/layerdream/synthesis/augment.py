"""Augmentations redrawn every step (method.md b.5): random shifts, then Gaussian pixel noise.

The shift follows the paper's reading in [R1]: upscale the canvas by ``2·max_shift`` pixels and take
an independent canvas-sized crop per copy (a shift in [−max_shift, max_shift] with a slight zoom),
then add N(0, noise²) without clipping. Jitter and noise remove solutions that depend on exact
pixel alignment.

Draws come from a per-seed generator and are shared by every target of that seed, so an image
depends only on its own seed, never on which other concepts share its batch.

Same seed, same image, whatever the thread count: the upscale is :func:`param.resize` (matrix
products, not the CPU upsample kernel, whose rounding depends on the thread split), and the crops'
backward adds each copy's gradient in copy order into distinct pixels. The obvious one-gather
formulation has an accumulating ``index_put_`` as its backward, which on CPU adds overlapping
copies with atomics in thread order: at 2 threads it gave different gradients from run to run.
"""
from __future__ import annotations

import torch

from .param import resize


def draw(generator: torch.Generator, copies: int, canvas: int, max_shift: int, noise: float,
         device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(offsets (copies, 2) in [0, 2·max_shift], noise (copies, 3, canvas, canvas) or None)."""
    offsets = torch.randint(0, 2 * max_shift + 1, (copies, 2), generator=generator, device=device)
    eps = noise * torch.randn((copies, 3, canvas, canvas), generator=generator, device=device) if noise > 0 else None
    return offsets, eps


class _Crops(torch.autograd.Function):
    """(B, C, H, W) -> (B, K, C, S, S): crop k has rows ``rows[k]`` and columns ``cols[k]``.

    Forward is a gather. Backward scatters copy by copy: within one copy every index is distinct,
    so each pixel receives one plain addition per copy, in copy order: no atomics, no dependence on
    threads, no host sync (the offsets stay on the device).
    """

    @staticmethod
    def forward(ctx, big: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows, cols)
        ctx.big_shape = big.shape
        crops = big[:, :, rows[:, :, None], cols[:, None, :]]  # (B, C, K, S, S)
        return crops.permute(0, 2, 1, 3, 4)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, cols = ctx.saved_tensors
        out = grad.new_zeros(ctx.big_shape)
        for k in range(rows.shape[0]):
            out[:, :, rows[k, :, None], cols[k, None, :]] += grad[:, k]
        return out, None, None


def upscale(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """(B, 3, S, S) -> (B, 3, S+2m, S+2m): the canvas every shifted crop of this step is cut from."""
    return resize(images, images.shape[-1] + 2 * max_shift) if max_shift else images


def crop_and_noise(big: torch.Tensor, offsets: torch.Tensor, eps: torch.Tensor | None, size: int) -> torch.Tensor:
    """(B, 3, S+2m, S+2m) -> (B·K, 3, S, S): one crop per offset, plus its noise (copy-major within image)."""
    b, k = big.shape[0], offsets.shape[0]
    base = torch.arange(size, device=big.device)
    crops = _Crops.apply(big, offsets[:, 0:1] + base, offsets[:, 1:2] + base)  # (B, K, 3, S, S)
    if eps is not None:
        crops = crops + eps[None]
    return crops.reshape(b * k, 3, size, size)


def shift_and_noise(images: torch.Tensor, offsets: torch.Tensor, eps: torch.Tensor | None,
                    max_shift: int) -> torch.Tensor:
    """(B, 3, S, S) -> (B·K, 3, S, S): K shifted, noisy copies of each image (copy-major within image)."""
    return crop_and_noise(upscale(images, max_shift), offsets, eps, images.shape[-1])
