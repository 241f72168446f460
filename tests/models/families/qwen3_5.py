"""Qwen3.5: Qwen3-VL's ViT (learned interpolated position embeddings, 2x2 merger; patch 8 here, 16 in the
real models) without DeepStack, and a hybrid text model: Gated-DeltaNet linear-attention blocks with a
full-attention block every few layers, interleaved 3-D M-RoPE on the full-attention blocks.

The tiny checkpoint keeps what matters for the adapter: 3 decoder blocks, linear / full / linear (so
layer 1, the battery's layer, is read after a linear-attention block, and the full-attention block runs
in the full forward); a ``Qwen2VLImageProcessor`` (PIL) whose ``max_pixels`` (64x64) makes layerdream fix
a 64-px square (4x4 tokens; 512 px / 16x16 on the real checkpoints); Qwen3-VL's Instruct template.

transformers loads every ``qwen3_5`` checkpoint with ``Qwen3_5Tokenizer`` whatever the folder says (a
byte-level BPE), so the word-level tiny tokenizer cannot be used: :func:`build_tokenizer` makes a real
``Qwen3_5Tokenizer`` over the 256 byte symbols plus merges that spell each word as one token.
"""
from __future__ import annotations

from families import save_checkpoint
from families.qwen3_vl import BASELINE, CHAT_TEMPLATE, EXTRA_SPECIALS, SPECIALS, WORDS

FAMILY = "qwen3_5"
CLASS = "Qwen3_5ForConditionalGeneration"
LAYERS = 3


def _byte_symbols() -> list[str]:
    """GPT-2's byte -> printable-character table (the alphabet of every byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    table = dict(zip(printable, codes))
    return [chr(table[b]) for b in range(256)]


def build_tokenizer(chat_template: str = CHAT_TEMPLATE):
    """A ``Qwen3_5Tokenizer`` (byte-level BPE) whose merges spell the words of ``WORDS`` (and ``Ġword``,
    the word after a space); the battery's words come out as one token each (checked in the battery's
    vocabulary look-ups), a few longer template words as two or three."""
    from transformers.models.qwen3_5.tokenization_qwen3_5 import Qwen3_5Tokenizer

    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    merges: list[tuple[str, str]] = []
    for word in WORDS:  # each word spelled left to right, then the word after a space as one more merge
        piece = word[0]
        for ch in word[1:]:
            if (piece, ch) not in merges:
                merges.append((piece, ch))
            piece += ch
            vocab.setdefault(piece, len(vocab))
    for word in WORDS:
        merges.append(("Ġ", word))
        vocab.setdefault("Ġ" + word, len(vocab))
    for token in SPECIALS:
        vocab.setdefault(token, len(vocab))
    tokenizer = Qwen3_5Tokenizer(vocab=vocab, merges=merges, unk_token="<unk>", eos_token="<|im_end|>",
                                 pad_token="<|endoftext|>", extra_special_tokens=EXTRA_SPECIALS)
    tokenizer.add_special_tokens({"additional_special_tokens": [t for t in SPECIALS]})
    tokenizer.chat_template = chat_template
    return tokenizer


def build_model_and_processor(*, layers: int = LAYERS, seed: int = 0, max_side: int = 64, moe: bool = False):
    """(model, processor) of a random-init Qwen3.5 with the real classes (``moe``: Qwen3.5-MoE's sparse
    text model with a shared expert, 4 experts and 2 per token here)."""
    import torch
    import transformers
    from transformers import Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": (patch * merge) ** 2, "longest_edge": max_side * max_side}, patch_size=patch,
        merge_size=merge, temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    video = images_only_video_processor("Qwen3VLVideoProcessor", patch_size=patch, merge_size=merge,
                                        temporal_patch_size=2)
    processor = make_processor(Qwen3VLProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    moe_text = (dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32)
                if moe else dict(intermediate_size=128))
    prefix = "Qwen3_5Moe" if moe else "Qwen3_5"
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=patch,
                           spatial_merge_size=merge, temporal_patch_size=2, out_hidden_size=64,
                           num_position_embeddings=64),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         linear_key_head_dim=16, linear_value_head_dim=16, linear_num_key_heads=2,
                         linear_num_value_heads=4, layer_types=["linear_attention", "full_attention", "linear_attention"][:layers],
                         **moe_text, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1],
                                                      "mrope_interleaved": True, "partial_rotary_factor": 0.5},
                         pad_token_id=ids("<|endoftext|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
