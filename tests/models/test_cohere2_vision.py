"""Command A Vision traps the battery cannot see: the test twin against the tiler arithmetic the source
documents, the one-tile prompt layout (begin, patches, one line break, end), and the refusal of a processor
whose tile grid does not match the tower."""
from __future__ import annotations

import numpy as np
import pytest

import layerdream as ld
from families import cohere2_vision as family  # tests/models/families
from families.cohere2_vision import Cohere2VisionImageProcessorTwin, aspect_ratios


def test_twin_tiler_is_the_sources_documented_one():
    """get_all_supported_aspect_ratios' docstring example (max 4 tiles), and the canvases it implies."""
    from PIL import Image

    assert aspect_ratios(4) == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (3, 1), (4, 1)]
    twin = Cohere2VisionImageProcessorTwin()
    assert twin.get_number_of_image_patches(512, 512) == 1  # scale 1 on 1x1, the smallest: no thumbnail
    assert twin.get_number_of_image_patches(512, 1024) == 3  # 2 columns x 1 row + the thumbnail
    assert twin.get_number_of_image_patches(512, 1024, {"crop_to_patches": False}) == 1
    wide = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8))
    out = Cohere2VisionImageProcessorTwin(size={"height": 64, "width": 64})(images=wide, return_tensors="pt")
    assert out["pixel_values"].shape == (3, 3, 64, 64) and out["num_patches"].tolist() == [3]


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohere2_vision") / "checkpoint"
    folder.mkdir()
    family.build(folder)
    return ld.load(str(folder), device="cpu")


def test_prompt_holds_one_tile_with_its_line_break(vlm):
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    start = ids.index(tok("<|START_OF_IMG|>"))
    rows, cols = vlm.grid
    assert ids[start + 1: start + 1 + rows * cols] == [tok("<|IMG_PATCH|>")] * (rows * cols)
    assert ids[start + 1 + rows * cols: start + 3 + rows * cols] == [tok("<|IMG_LINE_BREAK|>"), tok("<|END_OF_IMG|>")]
    assert vlm.image_positions().tolist() == list(range(start + 1, start + 1 + rows * cols))


def test_a_processor_whose_tile_grid_does_not_match_the_tower_is_refused(vlm):
    from layerdream.errors import UserError
    from layerdream.models.cohere2_vision import Cohere2VisionAdapter

    saved = vlm.processor.patch_size
    vlm.processor.patch_size = saved * 2  # tokens per tile side, as the processor would expand them
    try:
        with pytest.raises(UserError, match="does not match its vision tower"):
            Cohere2VisionAdapter(vlm.model, vlm.processor)
    finally:
        vlm.processor.patch_size = saved
