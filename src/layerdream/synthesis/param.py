"""The image parameterisation of Direct Ascent Synthesis, as the paper uses it (method.md b.4).

I = 0.5 + 0.5 · tanh( Σ_r U(θ_r) ): one zero-initialised tensor per resolution r, upsampled to the
canvas and summed. A coarse component moves many pixels at once, so its gradient sums the pixel
gradients over large areas: the optimisation is preconditioned towards low frequencies, which is
what keeps the result an image rather than adversarial noise. Zero init gives uniform gray.

U is bilinear (or bicubic) interpolation with PyTorch's ``align_corners=False`` geometry, applied as
two matrix products with a constant interpolation matrix instead of ``F.interpolate``: on CPU the
``upsample_bilinear2d`` kernel rounds differently depending on how its work is split over threads
(1 ulp in the forward, so the same seed gave a different PNG at another thread count), and on CUDA
its backward uses atomics and is refused under ``torch.use_deterministic_algorithms``. A matrix
product has neither problem at these shapes (docs/reproducibility.md; tests/synthesis/test_determinism.py).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

# The interpolation itself is the ground floor's (interpolation.py): the models' preprocessing uses it too.
from ..interpolation import MODES, interpolation_matrix, resize  # noqa: F401  (re-exported)


class MultiResolutionImage(nn.Module):
    """A batch of ``batch`` images on a ``canvas``-pixel square, one parameter per resolution."""

    def __init__(self, batch: int, canvas: int, resolutions: Sequence[int], upsample: str = "bilinear",
                 init_noise: float = 0.0, generator: torch.Generator | None = None, device=None):
        super().__init__()
        if upsample not in MODES:
            raise ValueError(f"upsample must be bilinear or bicubic, got {upsample!r}")
        self.canvas, self.upsample = canvas, upsample
        self.resolutions = sorted(set(int(r) for r in resolutions))
        self.components = nn.ParameterList(
            nn.Parameter(torch.zeros(batch, 3, r, r, device=device)) for r in self.resolutions
        )
        if init_noise > 0:  # an optional nudge away from exact gray
            with torch.no_grad():  # one draw shared by the batch: an image never depends on its batch-mates
                top = self.components[-1]
                noise = torch.randn((1, *top.shape[1:]), generator=generator, device=top.device)
                top.add_(init_noise * noise.expand_as(top))

    def logits(self) -> torch.Tensor:
        """Σ_r U(θ_r), summed coarse to fine in a fixed order."""
        total = 0
        for theta in self.components:
            total = total + (theta if theta.shape[-1] == self.canvas else resize(theta, self.canvas, self.upsample))
        return total

    def forward(self) -> torch.Tensor:
        """(batch, 3, canvas, canvas) in (0, 1)."""
        return 0.5 + 0.5 * torch.tanh(self.logits())
