"""Qwen3-Omni's thinker (Qwen3-Omni-30B-A3B): Qwen3-VL's ViT with **DeepStack** (features of ViT layers 0
and 1 here, added to the image tokens after text blocks 1 and 2) and a sparse-MoE text model with 3-D
M-RoPE (4 experts, 2 per token here), beside an audio tower that an image prompt never reaches.

The tiny checkpoint keeps what matters for the adapter: 3 text blocks (the third gets no DeepStack
feature), patch 8 and a ``Qwen2VLImageProcessor`` (PIL) whose ``max_pixels`` (64x64) fixes a 64-px
square (4x4 tokens), the Omni token names and the tiny Omni template of ``qwen2_5_omni_thinker.py``, a
real ``WhisperFeatureExtractor`` and the images-only video stand-in (no torchvision here).
"""
from __future__ import annotations

from families import save_checkpoint
from families.qwen2_5_omni_thinker import BASELINE, CHAT_TEMPLATE, build_tokenizer

FAMILY = "qwen3_omni_moe_thinker"
CLASS = "Qwen3OmniMoeThinkerForConditionalGeneration"
DEEPSTACK_LAYERS = (1, 2)


def build_model_and_processor(*, layers: int = 3, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init Qwen3-Omni-MoE thinker with the real classes."""
    import torch
    from transformers import Qwen3OmniMoeProcessor, WhisperFeatureExtractor
    from transformers.models.qwen3_omni_moe import (Qwen3OmniMoeThinkerConfig,
                                                    Qwen3OmniMoeThinkerForConditionalGeneration)

    from families.qwen2_5_vl import build_image_processor
    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = build_image_processor(max_side=max_side, mean=[0.5] * 3, std=[0.5] * 3)
    video = images_only_video_processor("Qwen2VLVideoProcessor", patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = make_processor(Qwen3OmniMoeProcessor, image_processor=image_processor, video_processor=video,
                               feature_extractor=WhisperFeatureExtractor(feature_size=16), tokenizer=tokenizer,
                               chat_template=CHAT_TEMPLATE)
    config = Qwen3OmniMoeThinkerConfig(
        audio_config=dict(num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, d_model=16,
                          output_dim=64, n_window=4, downsample_hidden_size=8),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                           num_position_embeddings=64, deepstack_visual_indexes=[0, 1]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=16, max_position_embeddings=512, num_experts=4,
                         num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                          "mrope_interleaved": True},
                         pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<|IMAGE|>"), video_token_id=ids("<|VIDEO|>"), audio_token_id=ids("<|AUDIO|>"),
        audio_start_token_id=ids("<|audio_bos|>"), user_token_id=ids("user"),
    )
    config.vision_start_token_id = ids("<|vision_bos|>")
    torch.manual_seed(seed)
    model = Qwen3OmniMoeThinkerForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
