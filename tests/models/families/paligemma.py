"""PaliGemma 2: SigLIP -> one linear projector -> Gemma 2; image tokens first, prefix-LM mask.

The tiny checkpoint mirrors the released ones where it matters: a ``SiglipImageProcessor`` with
``image_seq_length``, mean = std = 0.5, a Gemma 2 text model with sliding-window layers (so the
model builds a dict of masks), and no chat template (PaliGemma 2 pt/mix checkpoints ship none:
prompts are ``<image>``x N ``<bos>`` prompt ``\\n``, which the processor itself lays out).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "paligemma"
CLASS = "PaliGemmaForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "caption", "en", "describe"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<image>"]


def build_model_and_processor(*, image_size: int = 32, patch_size: int = 8, layers: int = 2, seed: int = 0,
                              text: dict | None = None):
    """(model, processor) of a random-init PaliGemma 2 with the real classes."""
    import torch
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=None,
                                     extra_special_tokens={})
    tokens = (image_size // patch_size) ** 2
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size},
                                              image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=3)
    image_processor.image_seq_length = tokens
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)  # adds <loc>/<seg> tokens
    ids = tokenizer.convert_tokens_to_ids
    hidden = 32
    text_cfg = dict(model_type="gemma2", vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=64,
                    num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                    query_pre_attn_scalar=16, sliding_window=16, max_position_embeddings=512,
                    pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>"))
    text_cfg.update(text or {})
    config = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", image_size=image_size, patch_size=patch_size,
                           hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           vision_use_head=False),
        text_config=text_cfg, image_token_index=ids("<image>"), projection_dim=hidden, hidden_size=hidden,
        vocab_size=len(tokenizer), pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>"),
    )
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)


def reference_prompt(processor, pil) -> list[int]:
    """PaliGemma has no chat template: the reference is the processor's documented layout, the
    placeholder then the (empty) prompt, which it turns into ``<image>`` x N ``<bos>\\n``."""
    return processor(text=processor.image_token, images=pil, return_tensors="pt")["input_ids"][0].tolist()
