"""Kosmos-2: CLIP ViT -> image-to-text projection (64 latent queries) -> a Magneto-style
decoder (64 image tokens, the processor's default). ``CLIPImageProcessorPil`` at its defaults except the tiny 32-px resize and crop, ``Kosmos2Processor``
at its defaults except 16 patch-index tokens (1024
there); an XLM-R-style word tokenizer (``<s> <pad> </s> <unk>``); no chat template (raw prompts).
"""
from __future__ import annotations

from families import blip2, save_checkpoint

FAMILY = "kosmos2"
CLASS = "Kosmos2ForConditionalGeneration"
QUERIES = 64  # the processor's default num_image_tokens (= latent_query_num of the released checkpoint)


def reference_prompt(processor, pil) -> list[int]:
    ids = processor(images=pil, text="")["input_ids"]
    return list(ids[0] if isinstance(ids[0], list) else ids)


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Kosmos2Config, Kosmos2ForConditionalGeneration, Kosmos2Processor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    words = blip2.WORDS + [f"w{i}" for i in range(QUERIES)]  # the placeholder ids after <unk> are ordinary ids
    tok = build_word_tokenizer(words, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], template_words=[], chat_template=None,
                               bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = Kosmos2Processor(image_processor=image_processor, tokenizer=tok, num_patch_index_tokens=16)
    tok = processor.tokenizer
    config = Kosmos2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                           patch_size=8),
        text_config=dict(vocab_size=len(tok), embed_dim=32, ffn_dim=64, layers=layers, attention_heads=2,
                         max_position_embeddings=256, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id),
        latent_query_num=QUERIES,
    )
    torch.manual_seed(seed)
    model = Kosmos2ForConditionalGeneration(config).eval()
    with torch.no_grad():  # as for BLIP-2: give the tower and the latent queries a trained-like spread
        for name, weight in model.named_parameters():
            if weight.dim() > 1 and name.startswith("vision_model."):
                weight.normal_(std=0.5 / weight.shape[-1] ** 0.5)
            elif weight.dim() > 1 and name.startswith("image_to_text_projection."):
                # the tower's features reach the projection L2-normalised (~0.2 per channel): a trained
                # projection brings them to the text embeddings' scale, a random one leaves them ~100x below
                weight.normal_(std=4.0 / weight.shape[-1] ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), blip2.BASELINE)
