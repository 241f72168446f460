"""Kosmos-2.5: Pix2Struct-style tower over flattened patches -> 2048 latent queries -> a Magneto-style
decoder. ``Kosmos2_5ImageProcessorPil`` at its defaults except 2-px patches and ``max_patches`` 256 (16 px
and 4096 on the released checkpoint: a 32-px square here, 1024 px there; a 4096-patch tower costs ~1 s per
image on CPU), ``Kosmos2_5Processor`` at its defaults except 64 image tokens (2048 there), called with the
``max_patches`` the adapter fixes (the image processor's own); a word tokenizer with ``<s> <pad> </s> <unk>`` and the processor's ``<image>`` /
``</image>`` markers (the image token is ``<s>`` itself, as released); no chat template (raw prompts).
"""
from __future__ import annotations

from families import blip2, save_checkpoint

FAMILY = "kosmos2_5"
CLASS = "Kosmos2_5ForConditionalGeneration"
PATCH = 2
MAX_PATCHES = 256  # 4096 released
#: the adapter passes the image processor's own max_patches on every call (Kosmos2_5Processor would pass 4096)
PROCESSOR_KWARGS = {"max_patches": MAX_PATCHES}
QUERIES = 64  # num_image_tokens = latent_query_num (2048 on the released checkpoint)
#: our pixels' key -> the processor's (the model takes ``flattened_patches``)
PIXEL_KEYS = {"pixel_values": "flattened_patches"}


def reference_prompt(processor, pil) -> list[int]:
    ids = processor(images=pil, text="", **PROCESSOR_KWARGS)["input_ids"]
    return list(ids[0].tolist() if hasattr(ids[0], "tolist") else ids[0])


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Kosmos2_5Config, Kosmos2_5ForConditionalGeneration, Kosmos2_5Processor
    from transformers.models.kosmos2_5.image_processing_pil_kosmos2_5 import Kosmos2_5ImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(blip2.WORDS, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<image>", "</image>"],
                               template_words=[], chat_template=None, bos_token="<s>", eos_token="</s>",
                               pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={"boi_token": "<image>", "eoi_token": "</image>", "image_token": "<s>"})
    image_processor = Kosmos2_5ImageProcessorPil(patch_size={"height": PATCH, "width": PATCH}, max_patches=MAX_PATCHES)
    processor = Kosmos2_5Processor(image_processor=image_processor, tokenizer=tok, num_image_tokens=QUERIES)
    config = Kosmos2_5Config(
        vision_config=dict(hidden_size=16, patch_embed_hidden_size=3 * PATCH * PATCH, intermediate_size=32, head_dim=16,
                           num_hidden_layers=1, num_attention_heads=1, max_num_patches=70),
        text_config=dict(vocab_size=len(tok), embed_dim=32, ffn_dim=64, layers=layers, attention_heads=2,
                         max_position_embeddings=128, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id),
        latent_query_num=QUERIES,
    )
    torch.manual_seed(seed)
    model = Kosmos2_5ForConditionalGeneration(config).eval()
    with torch.no_grad():  # as for Kosmos-2: a trained-like spread, and the projection at the text embeddings' scale
        for name, weight in model.named_parameters():
            if weight.dim() > 1 and name.startswith("vision_model."):
                weight.normal_(std=0.5 / weight.shape[-1] ** 0.5)
            elif weight.dim() > 1 and name.startswith("image_to_text_projection.") and "latent_query" not in name:
                weight.normal_(std=4.0 / weight.shape[-1] ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), blip2.BASELINE)
