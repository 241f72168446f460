"""Cosmos 3 Edge: SigLIP-style ViT (patch 8 here, 16 there; temporal patch 1) -> 2x2 merger -> a decoder with
3-D M-RoPE. ``Cosmos3EdgeImageProcessorPil`` at its defaults except the tiny tower's patch and 32^2..64^2-px
bounds (a 64-px square, 4 x 4 tokens; the default bounds fix 512 px / 16 x 16 at patch 16); tokenizer and
template as ``families/qwen2_5_vl.py``; ``Cosmos3EdgeProcessor`` with the images-only video stand-in.
"""
from __future__ import annotations

from families import qwen2_5_vl as q25
from families import save_checkpoint

FAMILY = "cosmos3_edge"
CLASS = "Cosmos3EdgeForConditionalGeneration"


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Cosmos3EdgeConfig, Cosmos3EdgeForConditionalGeneration
    from transformers.models.cosmos3_edge.image_processing_pil_cosmos3_edge import Cosmos3EdgeImageProcessorPil
    from transformers.models.cosmos3_edge.processing_cosmos3_edge import Cosmos3EdgeProcessor

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = q25.build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = Cosmos3EdgeImageProcessorPil(patch_size=8, size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64})
    video = images_only_video_processor("Cosmos3EdgeVideoProcessor", patch_size=8)
    processor = make_processor(Cosmos3EdgeProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=q25.CHAT_TEMPLATE)
    config = Cosmos3EdgeConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=8,
                           num_patches=64, spatial_merge_size=2),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         pad_token_id=ids("<|endoftext|>"), bos_token_id=None, eos_token_id=ids("<|im_end|>")),
        projector_hidden_size=64, image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    return Cosmos3EdgeForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), q25.BASELINE)
