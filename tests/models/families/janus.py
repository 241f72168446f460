"""Janus-Pro, understanding path: SigLIP ViT (576 patches at 384/16; 8-px patches of 32 px here: 4 x 4)
-> MLP aligner -> Llama. The VQ-VAE generation path is built (tiny) but never runs on an input image.

``JanusImageProcessorPil`` at its defaults except the tiny 32-px size and Janus-Pro's mean = std = 0.5
(its preprocessor config; the class default is CLIP's), ``JanusProcessor`` at its defaults except
``num_image_tokens`` (16 here: the tiny tower's), a reduced Janus template (``<|User|>: ... <|Assistant|>:``)
and a tokenizer that adds ``<｜begin▁of▁sentence｜>`` itself.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "janus"
CLASS = "JanusForConditionalGeneration"

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}<|User|>: {% else %}<|Assistant|>: {% endif %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image_placeholder>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}\n\n{% endfor %}"
    "{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<image_placeholder>", "<begin_of_image>", "<end_of_image>",
            "<|User|>", "<|Assistant|>"]


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import JanusConfig, JanusForConditionalGeneration, JanusProcessor
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ":"], chat_template=CHAT_TEMPLATE,
                               bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
                                                     "eoi_token": "<end_of_image>"})
    tok.add_tokens(SPECIALS[4:], special_tokens=True)
    tok.add_bos_token = True
    ids = tok.convert_tokens_to_ids
    image_processor = JanusImageProcessorPil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = JanusProcessor(image_processor=image_processor, tokenizer=tok, chat_template=CHAT_TEMPLATE,
                               num_image_tokens=16)
    config = JanusConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8,
                           mlp_ratio=2, projection_dim=32, num_image_tokens=16, depth=2),
        vq_config=dict(embed_dim=8, num_embeddings=32, latent_channels=32, base_channels=32, channel_multiplier=[1, 1],
                       num_res_blocks=1, num_patches=4, projection_dim=32, image_token_embed_dim=32),
        text_config=dict(model_type="llama", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"),
                         eos_token_id=ids("<eos>")),
        image_token_id=ids("<image_placeholder>"),
    )
    torch.manual_seed(seed)
    return JanusForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
