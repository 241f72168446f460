"""Cohere Compass (North-Micro-Vision): Qwen3-VL's ViT (patch 8 here, 16 there) -> 2x2 merger -> a Cohere2-style
decoder (parallel attention + MLP under one LayerNorm; sliding-window layers with interleaved 3-D M-RoPE,
full-attention layers without positions, the North recipe), plus **DeepStack**: mergers of ViT layers 0 and 1
feed features that the text model adds to the image tokens after blocks 1 and 2 (of 3 here).

``CohereCompassProcessor`` over ``CohereCompassImageProcessorPil`` (Qwen2-VL's arithmetic; defaults except the
tiny tower's patch and a 64-px bound: a 64-px square, 4 x 4 tokens), the images-only video stand-in. The
released chat template (``CohereLabs/North-Micro-Vision-Instruct``) could not be read offline; this is a reduced
Cohere template (BOS in the template, Cohere's turn tokens) holding the processor's own
``<|VISION_START|><|IMAGE_PAD|><|VISION_END|>`` block, used on both sides as the real one would be.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "cohere_compass"
CLASS = "CohereCompassForConditionalGeneration"
#: the decoder blocks after which DeepStack adds features (1-based: layer l = output of block l)
DEEPSTACK_LAYERS = (1, 2)
LAYERS = 3

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|START_OF_TURN_TOKEN|><|USER_TOKEN|>"
    "{% elif message['role'] == 'system' %}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>"
    "{% else %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|VISION_START|><|IMAGE_PAD|><|VISION_END|>"
    "{% elif item['type'] == 'video' %}<|VISION_START|><|VIDEO_PAD|><|VISION_END|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|END_OF_TURN_TOKEN|>{% endfor %}"
    "{% if add_generation_prompt %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<PAD>", "<UNK>", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", "<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>",
            "<|CHATBOT_TOKEN|>", "<|SYSTEM_TOKEN|>", "<|VISION_START|>", "<|VISION_END|>", "<|IMAGE_PAD|>",
            "<|VIDEO_PAD|>"]


def build_tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<BOS_TOKEN>", eos_token="<|END_OF_TURN_TOKEN|>", pad_token="<PAD>",
                               unk_token="<UNK>", extra_special_tokens={})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    return tok


def build_model_and_processor(*, layers: int = LAYERS, seed: int = 0, max_side: int = 64):
    import torch
    from transformers import CohereCompassConfig, CohereCompassForConditionalGeneration, CohereCompassProcessor
    from transformers.models.cohere_compass.image_processing_pil_cohere_compass import CohereCompassImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = CohereCompassImageProcessorPil(size={"shortest_edge": (patch * merge) ** 2,
                                                           "longest_edge": max_side * max_side}, patch_size=patch)
    video = images_only_video_processor("CohereCompassVideoProcessor", patch_size=patch, merge_size=merge)
    processor = make_processor(CohereCompassProcessor, image_processor=image_processor, tokenizer=tok,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    layer_types = (["sliding_attention"] * (layers - 1) + ["full_attention"])[:layers]
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True}
    config = CohereCompassConfig(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=patch,
                           spatial_merge_size=merge, temporal_patch_size=2, out_hidden_size=64,
                           num_position_embeddings=64, deepstack_visual_indexes=[0, 1]),
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, sliding_window=512,
                         layer_types=layer_types, rope_parameters={"sliding_attention": rope, "full_attention": None},
                         pad_token_id=ids("<PAD>"), bos_token_id=ids("<BOS_TOKEN>"),
                         eos_token_id=ids("<|END_OF_TURN_TOKEN|>")),
        image_token_id=ids("<|IMAGE_PAD|>"), video_token_id=ids("<|VIDEO_PAD|>"),
        vision_start_token_id=ids("<|VISION_START|>"), vision_end_token_id=ids("<|VISION_END|>"),
    )
    torch.manual_seed(seed)
    return CohereCompassForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
