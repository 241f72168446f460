"""Interpolation as two matrix products: the one resize of the package (synthesis and model preprocessing).

Bilinear (or bicubic) with PyTorch's ``align_corners=False`` geometry, applied with a constant
interpolation matrix instead of ``F.interpolate``: on CPU the ``upsample_bilinear2d`` kernel rounds
differently depending on how its work is split over threads (1 ulp in the forward, so the same seed gave
a different PNG at another thread count), and on CUDA its backward uses atomics and is refused under
``torch.use_deterministic_algorithms``. A matrix product has neither problem at these shapes
(docs/reproducibility.md; tests/synthesis/test_determinism.py).

Ground floor (docs/architecture.md): the image parameterisation (``synthesis/param.py``) and the
adapters' differentiable preprocessing (``models/adapter.py``) both build on it, so it sits below both.
"""
from __future__ import annotations

import torch

MODES = ("bilinear", "bicubic")
_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic convolution constant
_MATRICES: dict[tuple, torch.Tensor] = {}


def _taps(n_in: int, n_out: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(input index, weight) per output sample and tap, (n_out, T), in float64.

    Same sampling geometry as ``F.interpolate(..., align_corners=False)`` without antialiasing:
    output sample i reads input position (i + 0.5)·n_in/n_out − 0.5, clamped at the borders; the
    weights are computed in float64, so they are exact to float32 (PyTorch's kernel computes them in
    float32: the two agree to about 2e-5 at 448 -> 560).
    """
    src = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5
    if mode == "bilinear":
        src = src.clamp(min=0)
        low = src.floor()
        frac = src - low
        low = low.long().clamp(max=n_in - 1)
        return torch.stack([low, (low + 1).clamp(max=n_in - 1)], 1), torch.stack([1 - frac, frac], 1)
    if mode != "bicubic":
        raise ValueError(f"upsample must be one of {MODES}, got {mode!r}")
    low = src.floor()
    t = src - low
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], 1)
    index = (low.long()[:, None] + torch.arange(-1, 3)).clamp(0, n_in - 1)
    return index, weights


def interpolation_matrix(n_in: int, n_out: int, mode: str = "bilinear", *, device=None,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_out, n_in) matrix M with M @ x = 1-D interpolation of x from n_in to n_out samples. Cached.

    A single input sample is held constant (nearest), as DAS does for its 1×1 component.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = (n_in, n_out, mode, device, dtype)
    if key not in _MATRICES:
        if n_in == 1:
            matrix = torch.ones(n_out, 1, dtype=torch.float64)
        else:
            index, weights = _taps(n_in, n_out, mode)
            matrix = torch.zeros(n_out, n_in, dtype=torch.float64)
            rows = torch.arange(n_out)
            for tap in range(index.shape[1]):  # taps clamped onto one border pixel add up in tap order
                matrix[rows, index[:, tap]] += weights[:, tap]
        _MATRICES[key] = matrix.to(device=device, dtype=dtype)
    return _MATRICES[key]


def resize(images: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """(..., H, W) -> (..., size, size), like ``F.interpolate(align_corners=False, antialias=False)``.

    Rows first, then columns, each as one 2-D matrix product whose long side is the batch: its
    result and its backward do not depend on the thread count (measured), unlike the CPU upsample
    kernel, and they are deterministic on CUDA.
    """
    rows = interpolation_matrix(images.shape[-2], size, mode, device=images.device, dtype=images.dtype)
    cols = interpolation_matrix(images.shape[-1], size, mode, device=images.device, dtype=images.dtype)
    tall = (images.transpose(-1, -2) @ rows.t()).transpose(-1, -2)  # (..., size, W)
    return tall @ cols.t()
