"""Aya Vision traps the battery cannot see: the released geometry (364-px tile, patch 14: 13 x 13 =
169 tokens, one tile, no thumbnail) and a tiler that would split the square, refused in one line."""
from __future__ import annotations

import pytest
import torch

from families import aya_vision as family  # tests/models/families
from layerdream.errors import UserError


def _released_geometry():
    from transformers import AyaVisionConfig, AyaVisionForConditionalGeneration, AyaVisionProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    tok = family.tokenizer()
    processor = AyaVisionProcessor(image_processor=GotOcr2ImageProcessorPil(size={"height": 364, "width": 364}),
                                   tokenizer=tok, chat_template=family.CHAT_TEMPLATE)  # patch_size 28, img_size 364
    config = AyaVisionConfig(
        vision_config=dict(model_type="siglip_vision_model", image_size=364, patch_size=14, hidden_size=16,
                           intermediate_size=32, num_hidden_layers=1, num_attention_heads=1, vision_use_head=False),
        text_config=dict(model_type="cohere2", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         layer_types=["full_attention"]),
        image_token_index=tok.convert_tokens_to_ids("<|IMG_PATCH|>"), alignment_intermediate_size=64)
    torch.manual_seed(0)
    return AyaVisionForConditionalGeneration(config).eval().requires_grad_(False), processor


def test_released_geometry_is_one_tile_of_169_tokens():
    from layerdream.models.aya_vision import AyaVisionAdapter
    from layerdream.models.vlm import VLM

    model, processor = _released_geometry()
    vlm = VLM(model, processor, AyaVisionAdapter(model, processor), name="aya-geometry")
    assert (vlm.image_size, vlm.grid) == (364, (13, 13))
    ids = vlm.image_prompt()["input_ids"][0]
    tok = processor.tokenizer.convert_tokens_to_ids
    assert (ids == tok("<|IMG_PATCH|>")).sum() == 169 and (ids == tok("TILE_GLOBAL")).sum() == 1
    with torch.no_grad():
        assert vlm.image_tokens(torch.rand(1, 3, 364, 364), 1).shape[1] == 169


def test_a_tiler_that_splits_the_square_is_refused():
    from layerdream.models.aya_vision import AyaVisionAdapter

    model, processor = _released_geometry()
    processor.image_processor.min_patches = 2
    with pytest.raises(UserError, match="tiles a square 364-px image into .* tiles"):
        AyaVisionAdapter(model, processor)
