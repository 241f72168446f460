"""Ovis2: an AIMv2-style ViT (patch 8 here, 14 in the real models) whose head turns each token into a
**softmax over a visual vocabulary**; the image token is that distribution times a visual embedding
table (differentiable: ``tokenize_function`` "softmax", the default) -> a Qwen2 text model. Indicator
tokens (``<IMG_START>``, ``<IMG_GRID>``, ``<IMG_END>``, ...) take fixed rows of the same table.

The tiny checkpoint keeps what matters for the adapter: an ``Ovis2ImageProcessorPil`` at its defaults but
the tiny 32-px size (CLIP mean/std, BICUBIC, ``crop_to_patches`` off: one image, no tiles), 16 image
tokens (``image_seq_length``), a visual vocabulary of 64 and a chat template of the Qwen2 role layout.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "ovis2"
CLASS = "Ovis2ForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
INDICATORS = ["<IMG_START>", "<IMG_GRID>", "<IMG_COL>", "<IMG_ROW>", "<IMG_END>"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<IMG_ATOM>", *INDICATORS, "<unk>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}{{ '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>{{ '\\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def reference_prompt(processor, pil) -> list[int]:
    """The processor's template, tokenised with ``return_tensors="pt"``: without it Ovis2Processor fails in
    transformers 5.24 (``replace_image_token`` calls ``.tolist()`` on the image processor's list of grids)."""
    enc = processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": pil}]}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    return enc["input_ids"][0].tolist()


def build_model_and_processor(*, layers: int = 2, seed: int = 0, size: int = 32, patch: int = 8):
    """(model, processor) of a random-init Ovis2 with the real classes."""
    import torch
    from transformers import Ovis2Config, Ovis2ForConditionalGeneration, Ovis2Processor
    from transformers.models.ovis2.image_processing_pil_ovis2 import Ovis2ImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                                     bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<image>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    tokens = (size // patch) ** 2
    processor = Ovis2Processor(image_processor=Ovis2ImageProcessorPil(size={"height": size, "width": size}),
                               tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, image_seq_length=tokens)
    config = Ovis2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=size, patch_size=patch, vocab_size=64, hidden_stride=1, num_visual_indicator_tokens=5),
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=ids("<|endoftext|>"), bos_token_id=None, eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<IMG_ATOM>"), visual_indicator_token_ids=[ids(t) for t in INDICATORS],
        vocab_size=len(tokenizer), hidden_size=64,
    )
    torch.manual_seed(seed)
    model = Ovis2ForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
