"""Augmentations redrawn every step (method.md b.5): random shifts, then Gaussian pixel noise.

The shift follows the paper's reading in [R1]: upscale the canvas by ``2·max_shift`` pixels and take
an independent canvas-sized crop per copy (a shift in [−max_shift, max_shift] with a slight zoom),
then add N(0, noise²) without clipping. Jitter and noise remove solutions that depend on exact
pixel alignment.

Draws come from a per-seed generator and are shared by every target of that seed, so an image
depends only on its own seed, never on which other concepts share its batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def draw(generator: torch.Generator, copies: int, canvas: int, max_shift: int, noise: float,
         device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(offsets (copies, 2) in [0, 2·max_shift], noise (copies, 3, canvas, canvas) or None)."""
    offsets = torch.randint(0, 2 * max_shift + 1, (copies, 2), generator=generator, device=device)
    eps = noise * torch.randn((copies, 3, canvas, canvas), generator=generator, device=device) if noise > 0 else None
    return offsets, eps


def shift_and_noise(images: torch.Tensor, offsets: torch.Tensor, eps: torch.Tensor | None,
                    max_shift: int) -> torch.Tensor:
    """(B, 3, S, S) -> (B·K, 3, S, S): K shifted, noisy copies of each image (copy-major within image)."""
    b, _, size, _ = images.shape
    k = offsets.shape[0]
    big = F.interpolate(images, size=(size + 2 * max_shift,) * 2, mode="bilinear", align_corners=False) if max_shift else images
    base = torch.arange(size, device=images.device)
    rows = (offsets[:, 0:1] + base)  # (K, S)
    cols = (offsets[:, 1:2] + base)
    # one advanced-indexing gather for all copies: no per-copy Python loop
    crops = big[:, :, rows[:, :, None], cols[:, None, :]]  # (B, 3, K, S, S)
    crops = crops.permute(0, 2, 1, 3, 4)  # (B, K, 3, S, S)
    if eps is not None:
        crops = crops + eps[None]
    return crops.reshape(b * k, 3, size, size)
