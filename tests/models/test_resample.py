"""PIL's resampling as matrices (models/resample.py) against PIL itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from layerdream.models.resample import filter_name, pil_matrix, pil_resize


def _pictures(size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    smooth = np.stack([np.sin(6 * xx) * 0.4 + 0.5, np.cos(5 * yy) * 0.4 + 0.5, 0.5 + 0.3 * np.sin(9 * (xx + yy))], -1)
    edges = np.zeros((size, size, 3))
    edges[:, size // 3:] = 1.0
    edges[size // 2:, :, 1] = 0.8
    return {"noise": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
            "smooth": (smooth * 255).round().astype(np.uint8), "edges": (edges * 255).round().astype(np.uint8)}


@pytest.mark.parametrize("name,resample", [("lanczos", Image.LANCZOS), ("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)])
@pytest.mark.parametrize("shape", [(40, 40, 160, 160), (40, 40, 13, 13), (30, 40, 50, 22), (64, 64, 64, 200)])
def test_matches_pil_to_one_uint8_step(name, resample, shape):
    h, w, out_h, out_w = shape
    for kind, array in _pictures(max(h, w)).items():
        array = array[:h, :w]
        theirs = np.asarray(Image.fromarray(array).resize((out_w, out_h), resample)).astype(np.float64)
        x = torch.from_numpy(array).permute(2, 0, 1)[None].double() / 255
        ours = pil_resize(x, out_h, out_w, name)[0].permute(1, 2, 0).numpy() * 255
        err = np.abs(ours - theirs)  # PIL rounds after each pass; we do not
        assert err.max() <= 1.5 and err.mean() < 0.35, (kind, err.max(), err.mean())


def test_lanczos_round_trip_of_the_idefics3_processor():
    """Up 4x and back down, as Idefics3's processor does to a tile-sized picture; the clamps after each
    pass are what PIL does to an overshoot at an edge (without them: 20 uint8 steps off there)."""
    size = 32
    for kind, array in _pictures(size).items():
        pil = Image.fromarray(array)
        theirs = np.asarray(pil.resize((4 * size, 4 * size), Image.LANCZOS).resize((size, size), Image.LANCZOS)).astype(np.float64)
        x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
        ours = pil_resize(pil_resize(x, 4 * size, 4 * size), size, size)[0].permute(1, 2, 0).numpy() * 255
        assert np.abs(ours - theirs).max() <= 1.5, kind
        if kind != "smooth":
            assert np.abs(array - theirs).max() > 20  # the round trip is not the identity


def test_rows_sum_to_one_and_gradients_flow():
    m = pil_matrix(7, 29, "lanczos", dtype=torch.float64)
    torch.testing.assert_close(m.sum(1), torch.ones(29, dtype=torch.float64))
    x = torch.rand(2, 3, 12, 12, requires_grad=True)
    pil_resize(x, 48, 48).sum().backward()
    assert x.grad.abs().sum() > 0
    assert filter_name(Image.Resampling.LANCZOS) == "lanczos" and filter_name(3) == "bicubic" and filter_name(None) == "bilinear"
    with pytest.raises(ValueError, match="no differentiable stand-in"):
        filter_name(Image.Resampling.HAMMING)
