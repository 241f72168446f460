"""Qianfan-OCR: InternVL's InternViT (CLS + patches, stochastic depth off in eval) -> pixel shuffle 0.5 ->
MLP; Qwen3 text model, no BOS.

The tiny tower sees one 32-px tile in 4-px patches: 8x8 patches, shuffled to a 4x4 grid of 16 image
tokens (the real one: 448/14 = 32x32 -> 16x16 = 256). The processor is the real ``QianfanOCRProcessor``
(no video slot) with a ``GotOcr2`` image processor (ImageNet mean/std, saved under its torchvision
name as on the hub; without torchvision transformers picks the PIL backend of the same processor).
Its chat template is chatml whose image renders as the placeholder ``<image>``, which the processor
replaces by ``<img>`` + 16 x ``<IMG_CONTEXT>`` + ``</img>``.
"""
from __future__ import annotations

import json

from families import save_checkpoint

FAMILY = "qianfan_ocr"
CLASS = "QianfanOCRForConditionalGeneration"

# chatml; an image renders as the processor's image_placeholder_token "<image>" (the InternVL chat
# convention Qianfan-OCR keeps), which QianfanOCRProcessor expands
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<image>\\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<unk>"]
EXTRA_SPECIAL = {"context_image_token": "<IMG_CONTEXT>", "start_image_token": "<img>", "end_image_token": "</img>"}
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "shows", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "shows", "big", "small"]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def build_processor(image_size: int = 32, tokens: int = 16):
    from transformers import QianfanOCRProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(
        WORDS, special_tokens=SPECIAL_TOKENS, template_words=["user", "assistant", "system", "\n"],
        chat_template=CHAT_TEMPLATE, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens=EXTRA_SPECIAL)
    image_processor = GotOcr2ImageProcessorPil(size={"height": image_size, "width": image_size}, crop_to_patches=False,
                                               min_patches=1, max_patches=12, image_mean=IMAGENET_MEAN,
                                               image_std=IMAGENET_STD)
    return QianfanOCRProcessor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=tokens,
                               chat_template=CHAT_TEMPLATE)


def build(folder) -> None:
    import torch
    from transformers import QianfanOCRConfig, QianfanOCRForConditionalGeneration

    processor = build_processor()
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids
    config = QianfanOCRConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=[32, 32], patch_size=[4, 4]),
        text_config=dict(model_type="qwen3", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<|endoftext|>"),
                         bos_token_id=None, eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<IMG_CONTEXT>"), image_seq_length=16, downsample_ratio=0.5,
        vision_feature_layer=-1, vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    model = QianfanOCRForConditionalGeneration(config).eval()
    with torch.no_grad():  # the tower's position embeddings start at zero: give the patches a position
        model.model.vision_tower.embeddings.position_embeddings.normal_(std=0.5)
    save_checkpoint(folder, model, processor, BASELINE)
    config_file = folder / "processor_config.json"
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["image_processor_type"] = "GotOcr2ImageProcessorFast"
    config_file.write_text(json.dumps(saved, indent=2))
