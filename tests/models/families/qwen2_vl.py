"""Qwen2-VL: full-attention ViT (patch 14) -> 2x2 merger -> Qwen2 with 3-D M-RoPE.

The image processor is ``Qwen2VLImageProcessorPil`` at its defaults (merge 2, temporal 2, CLIP mean/std,
BICUBIC) except the tiny tower's patch (8) and, by default here, ``max_pixels`` 64 x 64, so the battery's
square is 4 x 4 tokens (at the default bounds it is 16 x 16: 1024 patches, ~25 s of this battery on CI's
CPU). ``build_model_and_processor(max_side=None)`` keeps the default bounds: tests/models/test_qwen2_vl.py
runs that geometry (and the released one at patch 14) once.
Template, tokenizer and video stand-in as for Qwen2.5-VL (``families/qwen2_5_vl.py``).
"""
from __future__ import annotations

from families import qwen2_5_vl as q25
from families import save_checkpoint

FAMILY = "qwen2_vl"
CLASS = "Qwen2VLForConditionalGeneration"
#: the tiny tower's patch (14 on the released checkpoints); the processor must match its model
PATCH = 8


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int | None = 64):
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = q25.build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    bounds = {"size": {"shortest_edge": 56 * 56, "longest_edge": max_side * max_side}} if max_side else {}
    image_processor = Qwen2VLImageProcessorPil(patch_size=PATCH, **bounds)
    video = images_only_video_processor("Qwen2VLVideoProcessor")
    processor = make_processor(Qwen2VLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=q25.CHAT_TEMPLATE)
    config = Qwen2VLConfig(
        vision_config=dict(depth=2, embed_dim=32, mlp_ratio=2, num_heads=2, hidden_size=64, patch_size=PATCH,
                           spatial_merge_size=2, temporal_patch_size=2),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         bos_token_id=None, eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    return Qwen2VLForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), q25.BASELINE)
