"""LLaVA-1.5 ``-hf``: CLIP tower (CLS + patches, features from layer -2, CLS dropped) -> MLP -> Llama.

The tiny tower sees 32 px in 8-px patches: a 4x4 grid of 16 image tokens (the real one: 336/14 =
24x24 = 576). Saved the way ``llava-hf/llava-1.5-7b-hf`` is: the chat template only in the
processor's legacy ``chat_template.json`` (the tokenizer has none), a Llama-style tokenizer that adds
``<s>`` itself (the template has no BOS), a CLIP image processor (shortest edge + centre crop,
CLIP mean/std) named by its hub class, and ``num_additional_image_tokens`` 1 for CLS.
"""
from __future__ import annotations

import json

FAMILY = "llava"
CLASS = "LlavaForConditionalGeneration"

# llava-hf/llava-1.5-*-hf chat template: images first, then text, "USER: ... ASSISTANT:"
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "shows", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "shows", "big", "small"]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


def build_tokenizer(words=WORDS, special_tokens=SPECIAL_TOKENS, template_words=("user", "assistant", ":", "\n"),
                    extra_special_tokens=None):
    """A Llama-style word tokenizer: adds ``<s>`` itself; no chat template of its own."""
    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(
        words, special_tokens=special_tokens, template_words=list(template_words), chat_template=None, bos_token="<s>",
        eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens=extra_special_tokens or {"image_token": "<image>"})
    tokenizer.add_bos_token = True
    return tokenizer


def to_legacy_template(folder, template: str) -> None:
    """Move the chat template into the processor's legacy ``chat_template.json``, as on llava-hf."""
    (folder / "chat_template.jinja").unlink()
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))


def rename_image_processor(folder, name: str) -> None:
    config_file = folder / "processor_config.json"
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["image_processor_type"] = name
    config_file.write_text(json.dumps(saved, indent=2))


def build(folder, *, strategy: str = "default") -> None:
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                            do_center_crop=True, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy=strategy, chat_template=CHAT_TEMPLATE,
                               image_token="<image>", num_additional_image_tokens=1)
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        image_token_id=ids("<image>"), vision_feature_layer=-2, vision_feature_select_strategy=strategy,
        image_seq_length=16 + (strategy == "full"), projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    to_legacy_template(folder, CHAT_TEMPLATE)
    rename_image_processor(folder, "CLIPImageProcessor")
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
