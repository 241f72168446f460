"""GLM-GA's trap the battery cannot see: its image processor's ``patch_expand_factor`` (which the torchvision
class folds into the resize factor and the PIL twin ignores) is checked on load, with the torchvision class's
arithmetic: a factor that divides the square is served, one that would resize it is refused in one line."""
from __future__ import annotations

import pytest

from families import glmga as family  # tests/models/families
from layerdream.errors import UserError
from layerdream.models.glmga import GlmgaAdapter


@pytest.fixture(scope="module")
def built():
    model, processor = family.build_model_and_processor(layers=1)
    return model.requires_grad_(False), processor


@pytest.mark.parametrize("expand,served", [(1, True), (2, True), (3, False)])
def test_patch_expand_factor_is_checked_on_load(built, expand, served):
    """The tiny square is 64 px (4 x 4 tokens of 16 px): factors of 16 and 32 px divide it, 48 px does not
    (GLM-GA's torchvision processor would resize it to 48 px, 3 x 3 tokens)."""
    model, processor = built
    ip = processor.image_processor
    try:
        ip.patch_expand_factor = expand
        if served:
            assert GlmgaAdapter(model, processor).grid == (4, 4)
        else:
            with pytest.raises(UserError, match="patch_expand_factor=3.* resizes a 64-px square to 48x48"):
                GlmgaAdapter(model, processor)
    finally:
        ip.patch_expand_factor = 1
