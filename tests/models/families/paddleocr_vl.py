"""PaddleOCR-VL: a NaViT-style SigLIP encoder (learned position embeddings interpolated to the patch grid;
patch 8 here, 14 in the real model) -> a projector that folds 2 x 2 patches -> ERNIE-4.5 text model with
3-D M-RoPE.

The tiny checkpoint keeps what matters for the adapter: a ``PaddleOCRVLImageProcessorPil`` whose
``longest_edge`` (64 x 64 px) makes layerdream fix a 64-px square (4 x 4 tokens; 448 px / 16 x 16 on the
real model), CLIP mean/std, BICUBIC, patches in row-major order (not Qwen's merge windows: the projector
folds them itself); a chat template of PaddleOCR-VL's layout (``User: <image block>\\nAssistant: ``).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "paddleocr_vl"
CLASS = "PaddleOCRVLForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<unk>", "<s>", "</s>", "<|IMAGE_START|>", "<|IMAGE_PLACEHOLDER|>", "<|IMAGE_END|>", "<|VIDEO_PLACEHOLDER|>",
            "<pad>"]

# PaddleOCR-VL's layout: <s>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>text\nAssistant: 
CHAT_TEMPLATE = (
    "<s>{% for message in messages %}{% if message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init PaddleOCR-VL with the real classes."""
    import torch
    from transformers import PaddleOCRVLConfig, PaddleOCRVLForConditionalGeneration, PaddleOCRVLProcessor
    from transformers.models.paddleocr_vl.image_processing_pil_paddleocr_vl import PaddleOCRVLImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ":"], chat_template=CHAT_TEMPLATE,
                                     bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<|IMAGE_PLACEHOLDER|>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    patch, merge = 8, 2
    image_processor = PaddleOCRVLImageProcessorPil(size={"shortest_edge": (patch * merge) ** 2, "longest_edge": max_side * max_side},
                                                   patch_size=patch, merge_size=merge)
    processor = PaddleOCRVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    config = PaddleOCRVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                           patch_size=patch, spatial_merge_size=merge),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"), eos_token_id=ids("</s>")),
        image_token_id=ids("<|IMAGE_PLACEHOLDER|>"), video_token_id=ids("<|VIDEO_PLACEHOLDER|>"),
        vision_start_token_id=ids("<|IMAGE_START|>"), vision_end_token_id=ids("<|IMAGE_END|>"),
    )
    torch.manual_seed(seed)
    model = PaddleOCRVLForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
