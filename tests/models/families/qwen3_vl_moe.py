"""Qwen3-VL mixture-of-experts (Qwen3-VL-30B-A3B, -235B-A22B): Qwen3-VL's tower, template and DeepStack
with a sparse-MoE text model (4 experts, 2 per token here). Same adapter as Qwen3-VL."""
from __future__ import annotations

from families.qwen3_vl import BASELINE, CHAT_TEMPLATE, build_tokenizer  # noqa: F401 (same tokenizer and template)

FAMILY = "qwen3_vl_moe"
CLASS = "Qwen3VLMoeForConditionalGeneration"
DEEPSTACK_LAYERS = (1, 2)


def build_model_and_processor(*, layers: int = 3, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init Qwen3-VL-MoE with the real classes."""
    import torch
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": (patch * merge) ** 2, "longest_edge": max_side * max_side}, patch_size=patch,
        merge_size=merge, temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    video = images_only_video_processor("Qwen3VLVideoProcessor", patch_size=patch, merge_size=merge,
                                        temporal_patch_size=2)
    processor = make_processor(Qwen3VLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    config = Qwen3VLMoeConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=patch,
                           spatial_merge_size=merge, temporal_patch_size=2, out_hidden_size=64,
                           num_position_embeddings=64, deepstack_visual_indexes=[0, 1]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                                          "mrope_interleaved": True},
                         pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = Qwen3VLMoeForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    model, processor = build_model_and_processor()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
