"""Aya Vision: SigLIP (all tokens) -> pixel shuffle x2 -> LayerNorm + SwiGLU MLP -> Cohere2.

The processor is ``AyaVisionProcessor`` at its defaults (``crop_to_patches`` on, the
tiler's min/max patches 1..12) over ``GotOcr2ImageProcessorPil`` at its defaults except ``size``,
which a checkpoint sets to its tile (364 px released; the class default, 384, is GOT-OCR's): 208 px here,
cut by the tiny tower into 26-px patches (8 x 8, shuffled to 4 x 4 = 16 tokens; the real one: 14 px,
26 x 26 -> 13 x 13 = 169), so the processor's ``patch_size`` and ``img_size`` are 52 and 208. The template is
a reduced Aya/Command-R template (BOS in the template, turn tokens).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "aya_vision"
CLASS = "AyaVisionForConditionalGeneration"

TILE, PATCH = 208, 26  # the released tile: 364 px (tests/models/test_aya_vision.py builds that geometry)
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|START_OF_TURN_TOKEN|><|USER_TOKEN|>"
    "{% elif message['role'] == 'system' %}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>"
    "{% else %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|END_OF_TURN_TOKEN|>{% endfor %}"
    "{% if add_generation_prompt %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
IMAGE_SPECIALS = ["<image>", "<|START_OF_IMG|>", "<|END_OF_IMG|>", "<|IMG_PATCH|>", "<|IMG_LINE_BREAK|>", "TILE",
                  "TILE_GLOBAL"]
TURN_SPECIALS = ["<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>",
                 "<|SYSTEM_TOKEN|>"]


def tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=["<PAD>", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", "<UNK>",
                                                      *TURN_SPECIALS[:1], *TURN_SPECIALS[2:], *IMAGE_SPECIALS],
                               template_words=["\n"], chat_template=CHAT_TEMPLATE, bos_token="<BOS_TOKEN>",
                               eos_token="<|END_OF_TURN_TOKEN|>", pad_token="<PAD>", unk_token="<UNK>",
                               extra_special_tokens={})
    tok.add_tokens([*TURN_SPECIALS, *IMAGE_SPECIALS], special_tokens=True)
    return tok


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import AyaVisionConfig, AyaVisionForConditionalGeneration, AyaVisionProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = GotOcr2ImageProcessorPil(size={"height": TILE, "width": TILE})
    processor = AyaVisionProcessor(image_processor=image_processor, tokenizer=tok, patch_size=PATCH * 2, img_size=TILE,
                                   chat_template=CHAT_TEMPLATE)
    config = AyaVisionConfig(
        vision_config=dict(model_type="siglip_vision_model", image_size=TILE, patch_size=PATCH, hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vision_use_head=False),
        text_config=dict(model_type="cohere2", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, sliding_window=512, layer_types=["full_attention"] * layers,
                         pad_token_id=ids("<PAD>"), bos_token_id=ids("<BOS_TOKEN>"), eos_token_id=ids("<|END_OF_TURN_TOKEN|>")),
        downsample_factor=2, image_token_index=ids("<|IMG_PATCH|>"), alignment_intermediate_size=64,
    )
    torch.manual_seed(seed)
    return AyaVisionForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
