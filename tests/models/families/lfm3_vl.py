"""LFM3-VL: own ViT (a gated short-convolution block and an attention block here; patch 8) -> LayerNorm +
2x2-merge MLP -> LFM3 (a short-convolution block, an attention block) with 1-D positions.

``Lfm3VlProcessor`` with ``Qwen2VLImageProcessorPil`` (the PIL twin of the checkpoint's
``Qwen2VLImageProcessor``, which transformers maps to ``lfm3_vl`` beside the torchvision class) at its defaults
except patch 8 and 64-px pixel bounds (a 64-px square, 4 x 4 tokens; 512 px / 16 x 16 on the released
geometry, patch 16), mean/std 0.5; the images-only video stand-in (``Qwen3VLVideoProcessor``'s slot, no
torchvision here). The template is a reduced ChatML one with BOS and LFM's Qwen-style image block (the
released template is the hub repo's).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "lfm3_vl"
CLASS = "Lfm3VlForConditionalGeneration"

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|pad|>", "<|startoftext|>", "<|im_end|>", "<|im_start|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>", "<unk>"]
EXTRA_SPECIALS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                  "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}
PATCH = 8


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Lfm3VlConfig, Lfm3VlForConditionalGeneration, Lfm3VlProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token="<|startoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<unk>",
                               extra_special_tokens=EXTRA_SPECIALS)
    ids = tok.convert_tokens_to_ids
    unit = PATCH * 2
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": unit * unit, "longest_edge": 64 * 64},
                                               patch_size=PATCH, merge_size=2, temporal_patch_size=2,
                                               image_mean=[0.5] * 3, image_std=[0.5] * 3)
    video = images_only_video_processor("Qwen3VLVideoProcessor", patch_size=PATCH, merge_size=2, temporal_patch_size=2)
    processor = make_processor(Lfm3VlProcessor, image_processor=image_processor, tokenizer=tok, video_processor=video,
                               chat_template=CHAT_TEMPLATE)
    config = Lfm3VlConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, patch_size=PATCH, spatial_merge_size=2,
                           temporal_patch_size=2, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                           layer_types=["conv", "full_attention"]),
        text_config=dict(model_type="lfm3", vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=512, sliding_window=64,
                         layer_types=(["conv", "full_attention"] * layers)[:layers],
                         pad_token_id=ids("<|pad|>"), bos_token_id=ids("<|startoftext|>"), eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        projector_hidden_size=64,
    )
    torch.manual_seed(seed)
    return Lfm3VlForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
