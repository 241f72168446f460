"""Granite 4 Vision: SigLIP -> Window Q-Former projectors -> Granite, with **every** image feature injected.

The image tokens' embeddings are zeroed; the features of chosen ViT layers (``deepstack_layer_map``: pairs
(vision layer, LLM layer)) and four spatial-offset samplings of one ViT layer (``spatial_target_layers``) each
pass through their own Window Q-Former (query windows ``downsample_rate`` of the key windows) and are added to
the image tokens' states *before* the decoder block with that 0-based index. Packing is LLaVA-NeXT's (base view,
unpadded anyres tiles, a newline per row).

The tiny checkpoint: a 32-px SigLIP tower in 8-px patches (4 x 4), rate ``2/4`` (2 x 2 tokens per view), the
pinpoints of LLaVA-1.6 scaled to 32 px (a 32-px square: canvas 32 x 64, two tiles, unpadded back to 2 x 2 plus
a newline per row: 4 base + 2 x 3 tokens), one-layer Q-Formers (the model's default; a Blip2QFormerConfig built
from a dict would have 12); 6 Granite blocks with injections before blocks (0-based) 0 and 3
(deepstack) and 1, 2, 4, 5 (spatial), so layer 1..5 each has one. ``Granite4VisionProcessor`` over
``LlavaNextImageProcessorPil`` (defaults except the tiny sizes and pinpoints); a reduced Granite 4 template.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "granite4_vision"
CLASS = "Granite4VisionForConditionalGeneration"

#: 0-based decoder block indexes that get features before they run (deepstack, then spatial)
DEEPSTACK_TARGETS = (0, 3)
SPATIAL_TARGETS = (1, 2, 4, 5)
LAYERS = 6
PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]  # LLaVA-1.6's, x 32/336
CHAT_TEMPLATE = (
    "{% for message in messages %}<|start_of_role|>{{ message['role'] }}<|end_of_role|>"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end_of_text|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|pad|>", "<|unk|>", "<|end_of_text|>", "<|start_of_role|>", "<|end_of_role|>", "<image>"]


def build_tokenizer():
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=None, eos_token="<|end_of_text|>", pad_token="<|pad|>", unk_token="<|unk|>",
                               extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens(SPECIALS[3:], special_tokens=True)
    return tok


def build_model_and_processor(*, seed: int = 0):
    import torch
    from transformers import Granite4VisionConfig, Granite4VisionForConditionalGeneration, Granite4VisionProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tok = build_tokenizer()
    ids = tok.convert_tokens_to_ids
    image_processor = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                                 image_grid_pinpoints=PINPOINTS, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = Granite4VisionProcessor(image_processor=image_processor, tokenizer=tok, patch_size=8,
                                        vision_feature_select_strategy="full", chat_template=CHAT_TEMPLATE,
                                        image_token="<image>", downsample_rate="2/4")
    config = Granite4VisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, vision_use_head=False),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=LAYERS,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         embedding_multiplier=2.0, residual_multiplier=0.5, pad_token_id=ids("<|pad|>"),
                         bos_token_id=None, eos_token_id=ids("<|end_of_text|>")),
        qformer_config=dict(num_hidden_layers=1, intermediate_size=64, cross_attention_frequency=1, max_position_embeddings=64,
                            use_qformer_text_input=False),
        image_token_index=ids("<image>"), vision_feature_select_strategy="full", vision_feature_layer=-1,
        image_grid_pinpoints=PINPOINTS, downsample_rate="2/4",
        deepstack_layer_map=[[1, DEEPSTACK_TARGETS[0]], [2, DEEPSTACK_TARGETS[1]]], spatial_vision_layer=-1,
        spatial_target_layers=list(SPATIAL_TARGETS),
    )
    torch.manual_seed(seed)
    return Granite4VisionForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
