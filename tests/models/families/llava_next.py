"""LLaVA-NeXT (1.6, Mistral variant) ``-hf``: CLIP tower, anyres tiles + base view, newline tokens, Mistral.

The tiny tower takes 32 px in 8-px patches (g = 4); the pinpoints are LLaVA-1.6's scaled by 32/336
(32x64, 64x32, 64x64, 96x32, 32x96), so a 32-px square goes the way a 336-px one does on the real
model: canvas 32x64, the image centred on black, two tiles, unpadded back to 4x4, plus a newline per
row: 16 base tokens + 4 x 5 = 36 image tokens. Saved like ``llava-hf/llava-v1.6-mistral-7b-hf``:
the template only in ``chat_template.json``, a tokenizer that adds ``<s>``, the hub's image
processor name.
"""
from __future__ import annotations

from families.llava import BASELINE, CLIP_MEAN, CLIP_STD, WORDS, build_tokenizer, rename_image_processor, to_legacy_template

FAMILY = "llava_next"
CLASS = "LlavaNextForConditionalGeneration"

# llava-hf/llava-v1.6-mistral-7b-hf chat template ([INST] ... [/INST], images first)
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\\n' + message['content'][0]['text'] + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + message['content'][0]['text'] + '<\\\\s> '}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]  # LLaVA-1.6's, x 32/336


def build(folder) -> None:
    import torch
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tokenizer = build_tokenizer(WORDS, template_words=("[", "inst", "]", "/", "\n"))
    ids = tokenizer.convert_tokens_to_ids
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True,
        image_grid_pinpoints=PINPOINTS, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                   vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                                   image_token="<image>", num_additional_image_tokens=1)
    config = LlavaNextConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32),
        text_config=dict(model_type="mistral", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, sliding_window=None, pad_token_id=ids("<pad>"),
                         bos_token_id=ids("<s>"), eos_token_id=ids("</s>")),
        image_token_id=ids("<image>"), vision_feature_layer=-2, vision_feature_select_strategy="default",
        image_grid_pinpoints=PINPOINTS, image_seq_length=16, projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    model = LlavaNextForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    to_legacy_template(folder, CHAT_TEMPLATE)
    rename_image_processor(folder, "LlavaNextImageProcessor")
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
