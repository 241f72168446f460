"""HyperCLOVA X SEED Vision: Qwen2.5-VL's windowed ViT (patch 8 here) + merger -> one linear projector ->
HyperCLOVA X (embedding and residual multipliers not 1, as muP-style checkpoints set them) with 1-D positions.

transformers loads every ``hyperclovax_vision_v2`` checkpoint with ``GPT2Tokenizer`` whatever the folder says
(the type is in ``MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS``): the word-level tiny tokenizer would load as a
GPT-2 BPE without merges and tokenise every word to nothing, so :func:`build_tokenizer` makes a real byte-level
``GPT2Tokenizer`` whose merges spell each word as one token (as ``families/qwen3_5.py`` does for Qwen3.5).
Template, words and ``Qwen2VLImageProcessorPil`` (the PIL twin of the ``Qwen2VLImageProcessor`` transformers
maps to this type) as ``families/qwen2_5_vl.py``: a 64-px square, 4 x 4 tokens (448 px / 16 x 16 on the
released checkpoints); the processor is ``HyperCLOVAXVisionV2Processor`` with the images-only video stand-in.
"""
from __future__ import annotations

from families import qwen2_5_vl as q25
from families import save_checkpoint

FAMILY = "hyperclovax_vision_v2"
CLASS = "HyperCLOVAXVisionV2ForConditionalGeneration"


def build_tokenizer():
    from transformers import GPT2Tokenizer

    from families.qwen3_5 import _byte_symbols

    vocab = {s: i for i, s in enumerate(_byte_symbols())}
    merges: list[tuple[str, str]] = []
    for word in q25.WORDS:  # each word spelled left to right, then the word after a space as one more merge
        piece = word[0]
        for ch in word[1:]:
            if (piece, ch) not in merges:
                merges.append((piece, ch))
            piece += ch
            vocab.setdefault(piece, len(vocab))
    for word in q25.WORDS:
        merges.append(("Ġ", word))
        vocab.setdefault("Ġ" + word, len(vocab))
    for token in q25.SPECIALS:
        vocab.setdefault(token, len(vocab))
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=merges, unk_token="<unk>", bos_token="<|endoftext|>",
                              eos_token="<|im_end|>", pad_token="<|endoftext|>", extra_special_tokens=q25.EXTRA_SPECIALS)
    tokenizer.add_special_tokens({"additional_special_tokens": list(q25.SPECIALS)})
    tokenizer.chat_template = q25.CHAT_TEMPLATE
    return tokenizer


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import HyperCLOVAXVisionV2Config, HyperCLOVAXVisionV2ForConditionalGeneration
    from transformers.models.hyperclovax_vision_v2.processing_hyperclovax_vision_v2 import HyperCLOVAXVisionV2Processor

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    video = images_only_video_processor("Qwen2VLVideoProcessor", patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = make_processor(HyperCLOVAXVisionV2Processor, image_processor=q25.build_image_processor(),
                               tokenizer=tokenizer, video_processor=video, chat_template=q25.CHAT_TEMPLATE)
    config = HyperCLOVAXVisionV2Config(
        vision_config=dict(model_type="qwen2_5_vl_vision", depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                           patch_size=8, spatial_merge_size=2, temporal_patch_size=2, window_size=32, out_hidden_size=48,
                           fullatt_block_indexes=[1]),
        text_config=dict(model_type="hyperclovax", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=512, embedding_multiplier=2.0, residual_multiplier=0.5,
                         pad_token_id=ids("<|endoftext|>"), bos_token_id=None, eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
    )
    torch.manual_seed(seed)
    return HyperCLOVAXVisionV2ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), q25.BASELINE)
