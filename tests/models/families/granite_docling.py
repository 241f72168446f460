"""Granite-Docling: a SigLIP2-style ViT (patch 4 here, 16 in the real model) -> pixel shuffle -> connector
-> a Granite text model, plus **DeepStack**: features of chosen ViT layers (0 here) go through their own
pixel-shuffle mergers and are added to the image tokens after the first text blocks.

The tiny checkpoint keeps what matters for the adapter: 32-px tiles of 4-px patches folded 2 x 2 (16
tokens a tile; 512-px tiles, 64 tokens on the real model), a ``GraniteDoclingImageProcessorPil`` at its
defaults but the tiny tile size (so a tile-sized picture is one tile: ``crop_to_patches`` stays on), 2
text blocks with DeepStack after block 1, and a chat template of Granite's role layout.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "granite_docling"
CLASS = "GraniteDoclingForConditionalGeneration"
DEEPSTACK_LAYERS = (1,)

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|end_of_text|>", "<|start_of_role|>", "<|end_of_role|>", "<fake_token_around_image>", "<global-img>",
            "<image>", "<row_1_col_1>", "<unk>", "<|pad|>"]

# Granite's role layout: <|start_of_role|>role<|end_of_role|>content<|end_of_text|>\n
CHAT_TEMPLATE = (
    "{% for message in messages %}<|start_of_role|>{{ message['role'] }}<|end_of_role|>"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end_of_text|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}"
)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, tile: int = 32, patch: int = 4, scale: int = 2):
    """(model, processor) of a random-init Granite-Docling with the real classes."""
    import torch
    from transformers import GraniteDoclingConfig, GraniteDoclingForConditionalGeneration, GraniteDoclingProcessor
    from transformers.models.granite_docling.image_processing_pil_granite_docling import GraniteDoclingImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                                     bos_token=None, eos_token="<|end_of_text|>", pad_token="<|pad|>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<image>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    per_tile = (tile // patch) ** 2 // scale**2
    processor = GraniteDoclingProcessor(image_processor=GraniteDoclingImageProcessorPil(size={"height": tile, "width": tile}),
                                        tokenizer=tokenizer, image_seq_len=per_tile, chat_template=CHAT_TEMPLATE)
    config = GraniteDoclingConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=tile, patch_size=patch, out_hidden_size=64, scale_factor=scale,
                           deepstack_visual_indexes=[0]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=ids("<|pad|>"), bos_token_id=None, eos_token_id=ids("<|end_of_text|>")),
        image_token_id=ids("<image>"), pad_token_id=ids("<|pad|>"),
    )
    torch.manual_seed(seed)
    model = GraniteDoclingForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
