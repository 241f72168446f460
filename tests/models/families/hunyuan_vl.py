"""HunYuan-VL: a NaViT-style ViT (learned position embeddings interpolated to the patch grid; patch 8 here,
16 in the real model) -> a conv patch merger (2 x 2) that appends a learned newline token to every row and
puts learned begin / end tokens around the image -> HunYuan dense text model with multi-axis M-RoPE.

The tiny checkpoint keeps what matters for the adapter: a ``HunYuanVLImageProcessorPil`` whose
``longest_edge`` (64 x 64 px) makes layerdream fix a 64-px square (4 x 4 content tokens, 4 x 5 with the
newline column, 22 image tokens with begin / end; 512 px / 16 x 16 on the real model), CLIP mean/std,
BICUBIC; the tokenizer's image-token attributes the processor requires, and a chat template that wraps the
image as ``<img_start><img><img_end>`` (the processor refuses prompts without those wrappers).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "hunyuan_vl"
CLASS = "HunYuanVLForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<s>", "</s>", "<eod>", "<img_start>", "<img_end>", "<img>", "<img_newline>", "<|User|>",
            "<|Assistant|>", "<unk>"]

CHAT_TEMPLATE = (
    "<s>{% for message in messages %}{% if message['role'] == 'user' %}<|User|>{% else %}<|Assistant|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<img_start><img><img_end>{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}<|Assistant|>{% endif %}"
)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init HunYuan-VL with the real classes."""
    import torch
    from transformers import HunYuanVLConfig, HunYuanVLForConditionalGeneration, HunYuanVLProcessor
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=[], chat_template=CHAT_TEMPLATE,
                                     bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<img>", "image_start_token": "<img_start>",
                                                           "image_end_token": "<img_end>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = HunYuanVLImageProcessorPil(size={"shortest_edge": (patch * merge) ** 2, "longest_edge": max_side * max_side},
                                                 patch_size=patch, merge_size=merge)
    processor = HunYuanVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    config = HunYuanVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=patch,
                           spatial_merge_size=merge, out_hidden_size=64, text_hidden_size=64, max_image_size=max_side,
                           min_image_size=patch * merge),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 2, 2]},
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"), eos_token_id=ids("</s>"), eod_token_id=ids("<eod>")),
        image_token_id=ids("<img>"), im_start_id=ids("<img_start>"), im_end_id=ids("<img_end>"),
        im_newline_id=ids("<img_newline>"),
    )
    torch.manual_seed(seed)
    model = HunYuanVLForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
