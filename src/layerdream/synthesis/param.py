"""The image parameterisation of Direct Ascent Synthesis, as the paper uses it (method.md b.4).

I = 0.5 + 0.5 · tanh( Σ_r U(θ_r) ): one zero-initialised tensor per resolution r, upsampled to the
canvas and summed. A coarse component moves many pixels at once, so its gradient sums the pixel
gradients over large areas: the optimisation is preconditioned towards low frequencies, which is
what keeps the result an image rather than adversarial noise. Zero init gives uniform gray.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class MultiResolutionImage(nn.Module):
    """A batch of ``batch`` images on a ``canvas``-pixel square, one parameter per resolution."""

    def __init__(self, batch: int, canvas: int, resolutions: Sequence[int], upsample: str = "bilinear",
                 init_noise: float = 0.0, generator: torch.Generator | None = None, device=None):
        super().__init__()
        if upsample not in ("bilinear", "bicubic"):
            raise ValueError(f"upsample must be bilinear or bicubic, got {upsample!r}")
        self.canvas, self.upsample = canvas, upsample
        self.resolutions = sorted(set(int(r) for r in resolutions))
        self.components = nn.ParameterList(
            nn.Parameter(torch.zeros(batch, 3, r, r, device=device)) for r in self.resolutions
        )
        if init_noise > 0:  # families that drop an exactly-gray image (Idefics3) need a nudge
            with torch.no_grad():
                top = self.components[-1]
                top.add_(init_noise * torch.randn(top.shape, generator=generator, device=top.device))

    def logits(self) -> torch.Tensor:
        total = 0
        for theta in self.components:
            if theta.shape[-1] == self.canvas:
                total = total + theta
            else:
                mode = "nearest" if theta.shape[-1] == 1 else self.upsample
                extra = {} if mode == "nearest" else {"align_corners": False}
                total = total + F.interpolate(theta, size=(self.canvas, self.canvas), mode=mode, **extra)
        return total

    def forward(self) -> torch.Tensor:
        """(batch, 3, canvas, canvas) in (0, 1)."""
        return 0.5 + 0.5 * torch.tanh(self.logits())
