"""LightOnOCR: Pixtral ViT -> 2x2 patch merger -> Qwen3 (the Mistral 3 adapter), ``LightOnOcrProcessor``
(no torchvision needed) over ``PixtralImageProcessorPil`` (defaults except the tiny tower's patch 8 and
longest edge 128, as ``families/mistral3.py``). Its processor writes ``<|image_pad|>`` x (rows x cols)
with no row-break tokens. A reduced Qwen-style template without a system turn.
"""
from __future__ import annotations

from families import mistral3, save_checkpoint

FAMILY = "lighton_ocr"
CLASS = "LightOnOcrForConditionalGeneration"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<|vision_pad|>", "<|image_end|>", "<unk>"]


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import LightOnOcrConfig, LightOnOcrForConditionalGeneration, LightOnOcrProcessor
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(mistral3.WORDS, special_tokens=SPECIALS, template_words=["user", "assistant", "\n"],
                               chat_template=CHAT_TEMPLATE, bos_token=None, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", unk_token="<unk>",
                               extra_special_tokens={"image_token": "<|image_pad|>", "image_break_token": "<|vision_pad|>",
                                                     "image_end_token": "<|image_end|>"})
    tok.add_tokens(SPECIALS[1:8], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    image_processor = PixtralImageProcessorPil(patch_size={"height": mistral3.PATCH, "width": mistral3.PATCH},
                                               size={"longest_edge": mistral3.LONGEST})
    processor = LightOnOcrProcessor(image_processor=image_processor, tokenizer=tok, patch_size=mistral3.PATCH,
                                    spatial_merge_size=2, chat_template=CHAT_TEMPLATE)
    config = LightOnOcrConfig(
        vision_config=dict(model_type="pixtral", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, head_dim=16, image_size=mistral3.LONGEST, patch_size=mistral3.PATCH),
        text_config=dict(model_type="qwen3", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<|image_pad|>"), spatial_merge_size=2,
    )
    torch.manual_seed(seed)
    return LightOnOcrForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), mistral3.BASELINE)
