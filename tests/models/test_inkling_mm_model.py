"""Inkling: what the battery cannot see. The processor's extra all-padding column is the grid's last column (a
constant token closing each row), and image cell (r, c) is grid cell (r, c): with a per-patch vision MLP, changing
one patch of the picture changes exactly one image token."""
from __future__ import annotations

import pytest
import torch

import layerdream as ld
from families import inkling_mm_model as family  # tests/models/families


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inkling")
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_the_padding_column_closes_every_row(vlm):
    p, side = vlm.adapter.patch, vlm.adapter.side
    assert (vlm.image_size, vlm.grid) == (side * p, (side, side + 1))
    assert family.patch_counts(side * p, side * p, p) == (side, side + 1)  # w // p + 1 columns
    x = torch.rand(2, 3, vlm.image_size, vlm.image_size)
    pixels = vlm.adapter.preprocess(x)["pixel_values"].reshape(2, side, side + 1, -1)
    pad = pixels[:, :, -1]
    assert torch.equal(pad, pad[:1, :1].expand_as(pad))  # the same constant patch for every row and image
    assert not torch.equal(pixels[0, :, :-1], pixels[1, :, :-1])


def test_image_cell_r_c_is_grid_cell_r_c(vlm):
    p, (rows, cols) = vlm.adapter.patch, vlm.grid
    x = torch.rand(1, 3, vlm.image_size, vlm.image_size)
    y = x.clone()
    r, c = 3, 5
    y[..., r * p:(r + 1) * p, c * p:(c + 1) * p] = 1 - y[..., r * p:(r + 1) * p, c * p:(c + 1) * p]
    with torch.no_grad():
        a, b = (vlm.model.model.get_image_features(**vlm.adapter.preprocess(z)).pooler_output.reshape(rows * cols, -1)
                for z in (x, y))
    changed = ((a - b).abs().amax(-1) > 1e-6).nonzero().flatten().tolist()
    assert changed == [r * cols + c]
