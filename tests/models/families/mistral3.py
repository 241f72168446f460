"""Mistral 3 (Mistral Small 3.1 layout): Pixtral ViT (2-D RoPE) -> RMSNorm + 2x2 patch merger + MLP ->
Mistral, ``[IMG]`` rows closed by ``[IMG_BREAK]``, the last by ``[IMG_END]``.

``PixtralImageProcessorPil`` at its defaults except the two values a checkpoint must match to its
tower (Mistral Small 3.1 sets both): ``patch_size`` (8 here, 14 there) and ``longest_edge`` (the class
default 1024 is Pixtral-12B's; 1540 there, 128 here: a 128-px square is 8 x 8 merged tokens, fixed the
way 448 px / 16 x 16 is on the released checkpoint). The template is a reduced Mistral ``[INST]``
template with ``<s>`` written in it (the tokenizer adds none).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "mistral3"
CLASS = "Mistral3ForConditionalGeneration"

PATCH, LONGEST = 8, 128
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST]"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}[IMG]{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %}[/INST]{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[IMG]", "[IMG_BREAK]", "[IMG_END]", "<pad>"]


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from layerdream.models.processors import provide_torchvision_free_helpers

    provide_torchvision_free_helpers()  # PixtralProcessor imports one pure helper from a torchvision-only module
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration
    from transformers.models.pixtral.processing_pixtral import PixtralProcessor
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                               extra_special_tokens={})
    tok.add_tokens(SPECIALS[3:8], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    image_processor = PixtralImageProcessorPil(patch_size={"height": PATCH, "width": PATCH}, size={"longest_edge": LONGEST})
    processor = PixtralProcessor(image_processor=image_processor, tokenizer=tok, patch_size=PATCH, spatial_merge_size=2,
                                 chat_template=CHAT_TEMPLATE)
    config = Mistral3Config(
        vision_config=dict(model_type="pixtral", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, head_dim=16, image_size=LONGEST, patch_size=PATCH),
        text_config=dict(model_type="mistral", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, sliding_window=None, pad_token_id=ids("<pad>"),
                         bos_token_id=ids("<s>"), eos_token_id=ids("</s>")),
        image_token_index=ids("[IMG]"), spatial_merge_size=2, vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    return Mistral3ForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
