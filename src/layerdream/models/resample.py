"""PIL's resampling filters as matrices: a differentiable stand-in for ``Image.resize``.

Why: some processors resize even a picture that already has the model's input size. Idefics3 and
SmolVLM (``do_resize=True``, their default) enlarge a tile-sized picture to ``size["longest_edge"]``
(4x the tile in the released configs) and shrink it back to the tile, both with LANCZOS; the round
trip low-passes the picture (layer-1 states of the model differ by tens of per cent from those of the
unresized picture). To optimise what the model really sees, that path must be reproduced in torch.

How PIL resizes (Pillow's ``Resample.c``, read, not copied): one separable pass per axis, the width
first, then the height. Output sample i of a pass from n_in to n_out samples is centred at input
position c = (i + 0.5)·n_in/n_out; the filter is stretched by s = max(n_in/n_out, 1) (antialiasing
when shrinking); it reads input samples j in [int(c − 3s + 0.5), int(c + 3s + 0.5)) clipped to the
image (support 3 for LANCZOS), with weights filter((j − c + 0.5)/s) normalised to sum to one over the
samples read (so the border renormalises instead of clamping). An 8-bit image is rounded to uint8 and
clipped to [0, 255] after each pass. Here each pass is one matrix product with the (n_out, n_in)
weight matrix, followed by a clamp to [0, 1]: the clamps matter (a LANCZOS overshoot at a black/white
edge is clipped by PIL; without them the result is off by 20 uint8 steps there), the uint8 rounding
does not (PIL's result is matched to about one uint8 step, tests/models/test_resample.py).

Matrix products, not ``F.interpolate``, for the same reasons as ``synthesis/param.resize``: the result
and its backward are the same at every CPU thread count and deterministic on CUDA.
"""
from __future__ import annotations

import math

import torch

#: PIL's filter support (in input samples, before stretching) per filter name
SUPPORT = {"bilinear": 1.0, "bicubic": 2.0, "lanczos": 3.0}
#: PIL.Image.Resampling values -> our names (NEAREST, BOX and HAMMING are not used by any supported processor)
PIL_FILTERS = {2: "bilinear", 3: "bicubic", 1: "lanczos"}
_MATRICES: dict[tuple, torch.Tensor] = {}


def _sinc(x: torch.Tensor) -> torch.Tensor:
    safe = torch.where(x == 0, torch.ones_like(x), x * math.pi)
    return torch.where(x == 0, torch.ones_like(x), torch.sin(safe) / safe)


def _filter(name: str, x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    if name == "lanczos":  # sinc(x)·sinc(x/3) on [-3, 3)
        return torch.where((x >= -3) & (x < 3), _sinc(x) * _sinc(x / 3), torch.zeros_like(x))
    if name == "bicubic":  # PIL's cubic convolution, a = -0.5
        a = -0.5
        near = ((a + 2) * ax - (a + 3)) * ax * ax + 1
        far = ((ax - 5) * ax + 8) * ax * a - 4 * a
        return torch.where(ax < 1, near, torch.where(ax < 2, far, torch.zeros_like(x)))
    if name == "bilinear":
        return (1 - ax).clamp(min=0)
    raise ValueError(f"unknown PIL filter {name!r}; choose from {', '.join(SUPPORT)}")


def pil_matrix(n_in: int, n_out: int, name: str = "lanczos", *, device=None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n_out, n_in) matrix of PIL's 1-D resampling from n_in to n_out samples (float64 weights). Cached."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    key = (n_in, n_out, name, device, dtype)
    if key not in _MATRICES:
        scale = n_in / n_out
        stretch = max(scale, 1.0)
        support = SUPPORT[name] * stretch
        matrix = torch.zeros(n_out, n_in, dtype=torch.float64)
        for i in range(n_out):
            centre = (i + 0.5) * scale
            low = max(int(centre - support + 0.5), 0)  # int(): C's truncation, as PIL
            high = min(int(centre + support + 0.5), n_in)
            weights = _filter(name, (torch.arange(low, high, dtype=torch.float64) - centre + 0.5) / stretch)
            total = weights.sum()
            matrix[i, low:high] = weights / total if total != 0 else weights
        _MATRICES[key] = matrix.to(device=device, dtype=dtype)
    return _MATRICES[key]


def _bands(matrix: torch.Tensor, block: int) -> list[tuple[int, int, int, int]]:
    """(row0, row1, col0, col1) per block of ``block`` output rows: the input columns those rows read.

    PIL's matrices are banded (6 taps enlarging with LANCZOS, 6 x the shrink factor shrinking), so a
    product by blocks over their windows does the same sums as the dense product at a fraction of
    its cost (a 4x LANCZOS round trip at 512 px: 1/10 of the dense FLOPs).
    """
    nonzero = matrix != 0
    cols = torch.arange(matrix.shape[1], device=matrix.device)
    first = torch.where(nonzero, cols, matrix.shape[1]).min(1).values.tolist()
    last = torch.where(nonzero, cols, -1).max(1).values.tolist()
    out = []
    for r0 in range(0, matrix.shape[0], block):
        r1 = min(r0 + block, matrix.shape[0])
        out.append((r0, r1, min(first[r0:r1]), max(last[r0:r1]) + 1))
    return out


def _apply(x: torch.Tensor, matrix: torch.Tensor, dim: int, block: int = 64) -> torch.Tensor:
    """Resample axis ``dim`` (-1: width, -2: height) of x with ``matrix`` (n_out, n_in), by bands when
    that saves work. Width: x @ M.T (one 2-D product, the batch as its long side); height: M @ x
    (a product per image and channel, each contiguous)."""
    bands = _bands(matrix, block)
    if sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in bands) * 2 > matrix.numel():
        bands = [(0, matrix.shape[0], 0, matrix.shape[1])]
    if dim == -1:
        parts = [x[..., c0:c1] @ matrix[r0:r1, c0:c1].t() for r0, r1, c0, c1 in bands]
    else:
        parts = [matrix[r0:r1, c0:c1] @ x[..., c0:c1, :] for r0, r1, c0, c1 in bands]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def pil_resize(images: torch.Tensor, height: int, width: int, name: str = "lanczos") -> torch.Tensor:
    """(..., H, W) in [0, 1] -> (..., height, width) as PIL resizes an 8-bit image (without its rounding).

    Width first, then height, each pass clamped to [0, 1]; an axis already at its size is not
    resampled (PIL skips that pass too). The passes run on ``images - 0.5``, so that a uniform image
    comes out exactly uniform, as PIL's does (rows of float weights sum to 1 only to rounding: gray
    would come back as 0.5 ± 2e-7, and Idefics3 tells an exactly gray image by its exact zeros).
    """
    if images.shape[-2:] == (height, width):
        return images
    out = images - 0.5
    if out.shape[-1] != width:
        out = _apply(out, pil_matrix(out.shape[-1], width, name, device=out.device, dtype=out.dtype), -1).clamp(-0.5, 0.5)
    if out.shape[-2] != height:
        rows = pil_matrix(out.shape[-2], height, name, device=out.device, dtype=out.dtype)
        out = _apply(out, rows, -2).clamp(-0.5, 0.5)
    return out + 0.5


def filter_name(resample) -> str:
    """Our name for a processor's ``resample`` (a PIL.Image.Resampling or its int); bilinear if unset."""
    if resample is None:
        return "bilinear"
    value = int(getattr(resample, "value", resample))
    if value not in PIL_FILTERS:
        raise ValueError(f"PIL resampling filter {resample!r} has no differentiable stand-in here")
    return PIL_FILTERS[value]


__all__ = ["pil_matrix", "pil_resize", "filter_name", "SUPPORT"]
