"""Build small, real Gemma 3 checkpoints offline (tests, the toy world, benchmarks).

No hub is reachable from our machines, so everything a checkpoint folder needs is made here: a
random-init ``Gemma3ForConditionalGeneration``, a word-level tokenizer that speaks Gemma's chat
template and special tokens, and a ``Gemma3Processor``. The result loads with ``from_pretrained`` /
``AutoProcessor.from_pretrained`` exactly like a hub checkpoint, so the engine runs through the same
code path as on Gemma 3 4B.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

SPECIAL_TOKENS = [
    "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>",
]
TEMPLATE_WORDS = ["user", "model", "\n"]

# Gemma's chat template, reduced to what an offline checkpoint needs (system text folds into the
# first user turn like Gemma's own template does).
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


def build_word_tokenizer(words: Sequence[str], *, special_tokens: Sequence[str] = SPECIAL_TOKENS,
                         template_words: Sequence[str] = TEMPLATE_WORDS, chat_template: str | None = GEMMA_CHAT_TEMPLATE,
                         bos_token: str | None = "<bos>", eos_token: str = "<eos>", pad_token: str = "<pad>",
                         unk_token: str = "<unk>", extra_special_tokens: dict[str, str] | None = None):
    """A WordLevel fast tokenizer over ``words`` with a family's special tokens and chat template
    (Gemma 3's by default; other families pass their own, e.g. in tests/models/families/).

    Words split on spaces and punctuation; ``\\n`` is a token of its own because chat templates
    need it. Offsets are real character offsets, so concept positions are found the same way as
    with a SentencePiece or BPE tokenizer.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for tok in [*special_tokens, *template_words, *words]:
        vocab.setdefault(tok, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk_token))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
        pre_tokenizers.Split(Regex(r"[ \t]+"), behavior="removed"),
        pre_tokenizers.Punctuation(behavior="isolated"),
    ])
    if extra_special_tokens is None:
        extra_special_tokens = {
            "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>",
            "sot_token": "<start_of_turn>", "eot_token": "<end_of_turn>",
        }
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, pad_token=pad_token,
        extra_special_tokens=extra_special_tokens, chat_template=chat_template, add_bos_token=False,
    )
    return fast


def build_tiny_gemma3(
    vocab_words: Sequence[str],
    *,
    image_size: int = 32,
    patch_size: int = 8,
    mm_tokens_per_image: int = 4,
    vision: dict[str, Any] | None = None,
    text: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
):
    """Return ``(model, tokenizer, processor)`` for a random-init Gemma 3 with the real geometry ratios.

    ``image_size / patch_size`` patches are average-pooled to ``mm_tokens_per_image`` tokens, as in
    Gemma 3 4B (896/14 = 64x64 patches -> 16x16 tokens). The projector is re-initialised because
    transformers zero-initialises ``mm_input_projection_weight``, which would make every pixel
    gradient exactly zero.
    """
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    tokenizer = build_word_tokenizer(vocab_words)
    vocab_size = len(tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    vision_cfg = dict(
        model_type="siglip_vision_model", image_size=image_size, patch_size=patch_size, hidden_size=32,
        intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vision_use_head=False,
    )
    vision_cfg.update(vision or {})
    text_cfg = dict(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
        sliding_window=512, max_position_embeddings=512,
    )
    text_cfg.update(text or {})
    text_cfg.setdefault("layer_types", ["full_attention"] * text_cfg["num_hidden_layers"])
    config = Gemma3Config(
        vision_config=vision_cfg, text_config=text_cfg, mm_tokens_per_image=mm_tokens_per_image,
        image_token_index=ids("<image_soft_token>"), boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"), pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"),
        eos_token_id=ids("<eos>"),
    )
    config.text_config.pad_token_id = ids("<pad>")
    torch.manual_seed(seed)
    with torch.device(device or "cpu"):  # built where it will run: a 4B model never passes through fp32 host RAM
        model = Gemma3ForConditionalGeneration._from_config(config, dtype=dtype).eval()
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(std=0.5 / vision_cfg["hidden_size"] ** 0.5)
    image_processor = Gemma3ImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3,
        do_pan_and_scan=False,
    )
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=GEMMA_CHAT_TEMPLATE,
        image_seq_length=mm_tokens_per_image,
    )
    return model, tokenizer, processor


def save_tiny_gemma3(folder, model, processor) -> None:
    """Save a model and its processor (tokenizer included) into one loadable folder."""
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
