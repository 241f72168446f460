"""Molmo2 traps the battery cannot see: the released 378-px geometry and a batch of images against the real
image processor, the pooling windows against the source's documented arithmetic, which of the two image-token
blocks is the grid (also with the hub's ``use_single_crop_col_tokens=False``), the bidirectional image block
(``mm_token_type_ids``), the BOS the processor prepends (given to the text side too), the rule in results."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from families import molmo2 as family  # tests/models/families
from layerdream.models.molmo2 import Molmo2Adapter, pooling_is_per_image, pooling_windows
from layerdream.models.vlm import VLM


def _vlm(**kwargs) -> VLM:
    torch.set_num_threads(1)
    model, processor = family.build_model_and_processor(**kwargs)
    return VLM(model, processor, Molmo2Adapter(model, processor), "tiny-molmo2")


@pytest.fixture(scope="module")
def vlm():
    return _vlm()


def _pictures(n: int, size: int):
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def test_pooling_windows_are_the_documented_ones():
    """arange_for_pooling: a 9 x 9 grid padded to 10 x 10 (nothing before, one after), 2 x 2 windows row-major."""
    windows = pooling_windows(9, 2, 2)
    assert windows.shape == (25, 4)
    assert windows[0].tolist() == [0, 1, 9, 10] and windows[1].tolist() == [2, 3, 11, 12]
    assert windows[4].tolist() == [8, -1, 17, -1]  # last column: its right half is padding
    assert windows[20].tolist() == [72, 73, -1, -1] and windows[24].tolist() == [80, -1, -1, -1]
    assert pooling_windows(27, 2, 2).shape == (196, 4)  # the released 378-px crop: 14 x 14 tokens


def test_released_geometry_and_a_batch_equal_the_processor():
    """At 378 px (the released crop) and for two images at once (crop and patch offsets per image), our
    pixels, pooling indices, grids and crop counts are the real image processor's at its defaults."""
    vlm = _vlm(size=378, layers=1)
    assert vlm.grid == (14, 14) and vlm.adapter.global_grid == (14, 14)
    pictures = _pictures(2, 378)
    theirs = vlm.processor.image_processor(pictures, return_tensors="pt")
    x = torch.stack([torch.from_numpy(np.asarray(p).copy()).permute(2, 0, 1) for p in pictures]).float() / 255
    ours = vlm.adapter.preprocess(x)
    assert set(ours) == set(theirs)
    assert ours["pixel_values"].shape == (4, 729, 588)
    torch.testing.assert_close(ours["pixel_values"], theirs["pixel_values"], rtol=0, atol=1e-5)
    for key in ("image_token_pooling", "image_grids", "image_num_crops"):
        assert torch.equal(ours[key].long(), theirs[key].long()), key
    # indices over the whole batch (transformers 5.24), or over each image's own 2 views (5.25: the model adds offsets)
    assert int(ours["image_token_pooling"].max()) == (2 if pooling_is_per_image() else 4) * 729 - 1
    ids = vlm.image_prompt()["input_ids"][0]
    assert int((ids == vlm.model.config.image_token_id).sum()) == 392 and vlm.image_positions().numel() == 196


@pytest.mark.parametrize("single_crop_cols", [None, False])
def test_the_grid_is_the_crop_block(single_crop_cols):
    """The aggregated tokens are the ``<im_start>`` block's (the crop), in row-major order, not the global
    view's (``<low_res_im_start>``); with or without column tokens in the global view (the hub sets False)."""
    vlm = _vlm(layers=1)
    vlm.processor.use_single_crop_col_tokens = single_crop_cols
    ids = vlm.image_prompt()["input_ids"][0].tolist()
    tok = vlm.tokenizer.convert_tokens_to_ids
    positions = vlm.image_positions().tolist()
    start, low = ids.index(tok("<im_start>")), ids.index(tok("<low_res_im_start>"))
    end = ids.index(tok("<im_end>"), start)
    assert low < start and all(start < p < end for p in positions) and len(positions) == 25
    # rows of 5 patches, each row closed by <im_col> in the crop block
    assert [ids[p + 1] == tok("<im_col>") for p in positions] == [i % 5 == 4 for i in range(25)]
    global_block = ids[low:start]
    assert global_block.count(tok("<im_patch>")) == 25
    assert global_block.count(tok("<im_col>")) == (0 if single_crop_cols is False else 5)


def test_the_image_block_is_bidirectional_through_mm_token_type_ids(vlm):
    """The image prompt carries mm_token_type_ids; without it the model runs the image block causally and
    the image tokens' states differ (the first image token would not see the later ones)."""
    prompt = vlm.image_prompt()
    assert "mm_token_type_ids" in prompt and int(prompt["mm_token_type_ids"].sum()) == 2 * (2 + 5 * 6)
    images = torch.rand(1, 3, vlm.image_size, vlm.image_size)
    pixels = vlm.adapter.preprocess(images)
    with torch.no_grad():
        full = vlm.residual(1, **vlm.adapter.forward_inputs(prompt, pixels, 1))
        causal = vlm.residual(1, **vlm.adapter.forward_inputs({k: v for k, v in prompt.items()
                                                               if k != "mm_token_type_ids"}, pixels, 1))
    positions = vlm.image_positions()
    assert (full[:, positions] - causal[:, positions]).abs().max() > 1e-3


@pytest.mark.parametrize("bos_token", ["<|endoftext|>", None])
def test_text_prompts_get_the_bos_the_processor_prepends(bos_token):
    """Molmo2Processor prepends ``bos_token or eos_token`` to every text (the templates do not emit it); concept
    prompts go through the tokenizer's template, which gets the same first token."""
    from layerdream.concepts import encode_in_prompt

    vlm = _vlm(layers=1, bos_token=bos_token)
    first = vlm.image_prompt()["input_ids"][0, 0].item()
    expected = vlm.tokenizer.convert_tokens_to_ids(bos_token or "<|im_end|>")
    assert first == expected
    ids = encode_in_prompt(vlm, "dog")[3]
    assert ids[0] == expected and ids.count(expected) == (1 if bos_token else 2)  # eos as BOS, and ending the turn


def test_results_record_the_block_rule(vlm):
    note = vlm.adapter.result_notes(1)["image_token_blocks"]
    assert "aggregated: the crop block" in note and "global view 5x5" in note
