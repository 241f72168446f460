"""Folder photos reach the lens as the family's processor resizes them (issue 19.5's rule, also for lens)."""
from __future__ import annotations

import types

import numpy as np
import torch
from PIL import Image

from layerdream.lens import images as IM


def test_folder_photos_go_through_the_familys_own_resize(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    (tmp_path / "red").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40 + i, 57, 3), dtype=np.uint8)).save(tmp_path / "red" / f"{i}.png")
    data = IM.from_folder(tmp_path, {"red": "colour"})
    seen = []

    def load_photo(img):  # stands in for FamilyAdapter.load_photo: what the family's processor would make
        seen.append(img.size)
        return torch.from_numpy(np.asarray(img.convert("RGB").resize((16, 16), Image.BILINEAR)).copy()).permute(2, 0, 1).float() / 255

    vlm = types.SimpleNamespace(image_size=16, adapter=types.SimpleNamespace(load_photo=load_photo))
    x = IM.model_inputs(vlm, data, 0, 2)
    assert seen == [(57, 40), (57, 41)]  # the original files, not the stacked (resized) tensors
    assert x.shape == (2, 3, 16, 16)
    with Image.open(tmp_path / "red" / "1.png") as img:
        assert torch.equal(x[1], load_photo(img))
    # without an adapter (or for toy/RUN images) the antialiased resize stands in
    plain = IM.model_inputs(types.SimpleNamespace(image_size=16), data, 0, 3)
    assert plain.shape == (3, 3, 16, 16) and 0 <= plain.min() and plain.max() <= 1
