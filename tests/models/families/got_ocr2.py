"""GOT-OCR 2.0: a SAM ViT-B (windowed attention, relative positions, a conv neck) -> two stride-2 convolutions
+ a linear projector -> Qwen2. The projector turns the SAM grid (64 x 64 at 1024 px / patch 16) into 16 x 16
= 256 image tokens, which is also the processor's fixed ``num_image_tokens``.

The tiny checkpoint keeps the real token count (the processor writes 256 ``<imgpad>`` whatever the
model is): 128 px of 2-px patches (the same 64 x 64 SAM grid, 4096 ViT tokens) in 8 x 8 windows only
(no global block: a global block over 4096 tokens made the battery take two minutes on CI's CPU), a ``GotOcr2ImageProcessorPil`` at its defaults but the tiny 128-px size (CLIP mean/std,
BICUBIC, no cropping to patches), and no chat template (the released checkpoint ships none; the
processor lays out its own OCR conversation when called without text).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "got_ocr2"
CLASS = "GotOcr2ForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "ocr", "system", "user", "assistant"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<imgpad>", "<unk>"]


def reference_prompt(processor, pil) -> list[int]:
    """No template: the raw prompt ``<img>`` + the image tokens + ``</img>`` (the tokenizer has no BOS)."""
    return processor(text="<img><imgpad></img>", images=pil)["input_ids"][0]


def build_model_and_processor(*, layers: int = 2, seed: int = 0):
    """(model, processor) of a random-init GOT-OCR 2.0 with the real classes."""
    import torch
    from transformers import GotOcr2Config, GotOcr2ForConditionalGeneration, GotOcr2Processor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ":"], chat_template=None,
                                     bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<imgpad>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)  # matched whole, before the word-level split
    ids = tokenizer.convert_tokens_to_ids
    processor = GotOcr2Processor(image_processor=GotOcr2ImageProcessorPil(size={"height": 128, "width": 128}),
                                 tokenizer=tokenizer)
    config = GotOcr2Config(
        vision_config=dict(hidden_size=16, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=128,
                           patch_size=2, window_size=8, global_attn_indexes=[], mlp_dim=32),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"), bos_token_id=None),
        image_token_index=ids("<imgpad>"),
    )
    torch.manual_seed(seed)
    model = GotOcr2ForConditionalGeneration(config).eval()
    with torch.no_grad():  # SAM's default init (std 1e-10) leaves the tower at ~zero: give it a usable scale
        for name, weight in model.named_parameters():
            if name.startswith("model.vision_tower.") and weight.dim() > 1:
                weight.normal_(std=1.0 / weight[0].numel() ** 0.5)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
