"""Aria: an Idefics3-style SigLIP ViT -> a projector whose **learned queries cross-attend** to the ViT
features (no spatial grid: 128 queries at 490 px, 256 at 980 px) -> a fine-grained MoE text model.

The tiny checkpoint keeps what matters for the adapter: the processor's own sizes (``max_image_size``
must be 490 or 980, and the processor's call default is 980 whatever its image processor saved; 980 here,
with 70-px patches: a 14 x 14 ViT grid), 8 queries for those 196 patches
(``projector_patch_to_query_dict`` and the processor's ``size_conversion``), an ``AriaImageProcessorPil``
at its defaults (mean = std = 0.5, BICUBIC, no splitting), 2 MoE text blocks (4 experts, 2 per token, a
shared expert) and a chat template of Aria's layout (``<fim_prefix><|img|><fim_suffix>``).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "aria"
CLASS = "AriaForConditionalGeneration"
QUERIES = 8

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<fim_prefix>", "<fim_suffix>", "<|img|>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}{{ '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<fim_prefix><|img|><fim_suffix>{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    """(model, processor) of a random-init Aria with the real classes."""
    import torch
    from transformers import AriaConfig, AriaForConditionalGeneration, AriaProcessor
    from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                                     bos_token="<s>", eos_token="<|im_end|>", pad_token="<pad>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<|img|>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    size, patch = 980, 70
    processor = AriaProcessor(image_processor=AriaImageProcessorPil(max_image_size=size), tokenizer=tokenizer,
                              chat_template=CHAT_TEMPLATE, size_conversion={size: QUERIES})
    config = AriaConfig(
        vision_config=dict(model_type="idefics3_vision", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=size, patch_size=patch),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=32, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, moe_num_experts=4,
                         moe_topk=2, moe_num_shared_experts=1, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("<|im_end|>")),
        projector_patch_to_query_dict={(size // patch) ** 2: QUERIES}, image_token_index=ids("<|img|>"),
    )
    torch.manual_seed(seed)
    model = AriaForConditionalGeneration(config).eval()
    with torch.no_grad():  # the queries start at zero: give them a spread so they read different features
        model.model.multi_modal_projector.query.normal_(std=0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
