"""VideoLLaMA 3 on single images: a NaViT-style SigLIP encoder (patch 8 here, 14 in the real model) -> a
2-layer MLP projector -> Qwen2 with plain 1-D positions. For images the merge size is 1 (one token per
patch; videos are pooled 2 x 2 and compressed, which layerdream never feeds).

The tiny checkpoint keeps what matters for the adapter: a ``VideoLlama3ImageProcessorPil`` whose
``longest_edge`` (32 x 32 px) makes layerdream fix a 32-px square (4 x 4 tokens; 224 px / 16 x 16 on the
real model), ImageNet-standard mean/std (0.5), BICUBIC, ``image_merge_sizes`` per image; a chat template of
the Qwen2 layout with the bare ``<|image_pad|>`` placeholder. The video slot holds the images-only stand-in
(no torchvision here).
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "video_llama_3"
CLASS = "VideoLlama3ForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "user", "assistant", "system"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<unk>"]

# The Qwen2 role layout with the bare image placeholder.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}{{ '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|image_pad|>{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int = 32):
    """(model, processor) of a random-init VideoLLaMA 3 with the real classes."""
    import torch
    from transformers import VideoLlama3Config, VideoLlama3ForConditionalGeneration, VideoLlama3Processor
    from transformers.models.video_llama_3.image_processing_pil_video_llama_3 import VideoLlama3ImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                                     bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                                     extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"})
    tokenizer.add_tokens(SPECIALS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids
    patch = 8
    image_processor = VideoLlama3ImageProcessorPil(size={"shortest_edge": patch * patch, "longest_edge": max_side * max_side},
                                                   patch_size=patch)
    video = images_only_video_processor("VideoLlama3VideoProcessor", patch_size=patch, merge_size=2, temporal_patch_size=1)
    processor = make_processor(VideoLlama3Processor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    config = VideoLlama3Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=patch),
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=ids("<|endoftext|>"), bos_token_id=None, eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
    )
    torch.manual_seed(seed)
    model = VideoLlama3ForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
