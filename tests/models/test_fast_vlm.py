"""FastVLM traps the battery cannot see: the released geometry (FastViTHD's stride 64: 1024 px -> 16 x 16 tokens,
pixels equal to the processor's), and a processor that counts tokens otherwise than the tower reduces (refused)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from families import fast_vlm as family  # tests/models/families
from layerdream.errors import UserError


@pytest.fixture(scope="module", autouse=True)
def _timm():
    family.require_timm()  # skips without timm


def test_released_geometry_is_256_tokens_at_1024_px():
    from PIL import Image

    from layerdream.models.fast_vlm import FastVlmAdapter

    torch.set_num_threads(1)
    model, processor = family.build_model_and_processor(size=1024, patch_size=64, layers=1,
                                                        downsamples=family.RELEASED_DOWNSAMPLES)
    adapter = FastVlmAdapter(model, processor)
    assert adapter.stride == 64 and adapter.image_size == 1024 and adapter.grid == (16, 16)
    prompt = adapter.image_prompt()["input_ids"]
    assert int((prompt == model.config.image_token_id).sum()) == 256
    pil = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255
    pixels = adapter.preprocess(x)["pixel_values"]
    torch.testing.assert_close(pixels, processor.image_processor(images=pil, return_tensors="pt")["pixel_values"],
                               rtol=0, atol=1e-5)
    with torch.no_grad():
        features = model.model.get_image_features(pixel_values=pixels).pooler_output
    assert features.shape[:2] == (1, 256)  # the tower's 16 x 16 map, flattened


def test_a_processor_that_counts_other_patches_is_refused():
    from layerdream.models.fast_vlm import FastVlmAdapter

    model, processor = family.build_model_and_processor()
    processor.patch_size = 64
    with pytest.raises(UserError, match="counts 64-px patches but the vision tower reduces by 8"):
        FastVlmAdapter(model, processor)
