"""Qwen2.5-VL: windowed ViT (patch 8 here, 14 in the real models) -> 2x2 merger -> Qwen2 with 3-D M-RoPE.

The tiny checkpoint keeps what matters for the adapter: a ``Qwen2VLImageProcessor`` whose
``max_pixels`` (64x64) makes layerdream fix a 64-px square (4x4 tokens; 448 px / 16x16 on the real
checkpoints), CLIP mean/std (not 0.5, so reading them from the checkpoint is exercised), the
Instruct chat template with its default system turn and no BOS, and M-RoPE sections that sum to
head_dim / 2. The processor's video slot holds the images-only stand-in (no torchvision here).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "qwen2_5_vl"
CLASS = "Qwen2_5_VLForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "you", "are", "helpful", "assistant", "system", "user", "."]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<|video_pad|>", "<unk>"]
EXTRA_SPECIALS = {"im_start_token": "<|im_start|>", "image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                  "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}

# Qwen2-VL / Qwen2.5-VL Instruct chat template (chat_template.json of the released checkpoints).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build_tokenizer(chat_template: str = CHAT_TEMPLATE):
    from layerdream.models.tiny import build_word_tokenizer

    return build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=chat_template,
                                bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                                extra_special_tokens=EXTRA_SPECIALS)


def build_image_processor(*, patch_size: int = 8, merge_size: int = 2, max_side: int = 64, mean=CLIP_MEAN, std=CLIP_STD):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    unit = patch_size * merge_size
    return Qwen2VLImageProcessorPil(size={"shortest_edge": unit * unit, "longest_edge": max_side * max_side},
                                    patch_size=patch_size, merge_size=merge_size, temporal_patch_size=2,
                                    image_mean=list(mean), image_std=list(std))


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init Qwen2.5-VL with the real classes."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = build_image_processor(max_side=max_side)
    video = images_only_video_processor("Qwen2VLVideoProcessor", patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = make_processor(Qwen2_5_VLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    config = Qwen2_5_VLConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=32, out_hidden_size=64,
                           fullatt_block_indexes=[1]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         bos_token_id=None, eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
