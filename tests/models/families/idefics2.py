"""Idefics2: SigLIP -> MLP -> perceiver resampler (64 learned latents) -> Mistral; 5-D pixels.

The image processor is ``Idefics2ImageProcessorPil()`` at its **default** settings (shortest edge 378,
longest 980, BILINEAR, mean = std = 0.5, no splitting), so layerdream fixes the 378-px square it fixes
on the released checkpoints. The tiny tower cuts it into 42-px patches (9 x 9; 14 px, 27 x 27 on the
real ones), the resampler has the processor's default 64 latents, the tokenizer adds ``<s>`` itself
(a Mistral tokenizer) and the chat template is idefics2-8b's.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "idefics2"
CLASS = "Idefics2ForConditionalGeneration"

# the chat template of HuggingFaceM4/idefics2-8b (template text is data)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
PATCH = 42


def tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<fake_token_around_image>", "<image>", "<end_of_utterance>"]
    tok = build_word_tokenizer(WORDS, special_tokens=specials, template_words=["user", "assistant", ":", "\n"],
                               chat_template=CHAT_TEMPLATE, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                               unk_token="<unk>", extra_special_tokens={})
    tok.add_tokens(["<fake_token_around_image>", "<image>", "<end_of_utterance>"], special_tokens=True)
    tok.add_bos_token = True
    return tok


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Idefics2Config, Idefics2ForConditionalGeneration, Idefics2Processor
    from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil

    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    processor = Idefics2Processor(image_processor=Idefics2ImageProcessorPil(), tokenizer=tok, chat_template=CHAT_TEMPLATE)
    config = Idefics2Config(
        vision_config=dict(image_size=378, patch_size=PATCH, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2),
        perceiver_config=dict(hidden_size=32, resampler_n_latents=processor.image_seq_len, resampler_depth=1,
                              resampler_n_heads=2, resampler_head_dim=16, num_key_value_heads=1),
        text_config=dict(model_type="mistral", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        image_token_id=ids("<image>"),
    )
    torch.manual_seed(seed)
    return Idefics2ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)

