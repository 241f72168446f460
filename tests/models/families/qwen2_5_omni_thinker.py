"""Qwen2.5-Omni's thinker: the audio-visual LLM half of Qwen2.5-Omni (the talker and token2wav, which turn
its text into speech, are not in this class). Images go through Qwen2.5-VL's windowed ViT and merger
(patch 8 here, 14 in the real model) into a Qwen2 text model with 3-D M-RoPE; a Whisper-style audio
tower sits beside it and is not used by an image prompt.

The tiny checkpoint keeps what matters for the adapter: a ``Qwen2VLImageProcessor`` (PIL) whose
``max_pixels`` (64x64) makes layerdream fix a 64-px square (4x4 tokens); the Omni token names
(``<|IMAGE|>`` between ``<|vision_bos|>`` and ``<|vision_eos|>``, the audio and video tokens) and a chat
template of the released layout: a default system turn, then the user turn with the vision block. The
processor's video slot holds the images-only stand-in (no torchvision here); its audio slot is a real
``WhisperFeatureExtractor``.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "qwen2_5_omni_thinker"
CLASS = "Qwen2_5OmniThinkerForConditionalGeneration"

WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small", "you", "are", "qwen", "assistant", "system", "user", "."]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_bos|>", "<|vision_eos|>", "<|IMAGE|>",
            "<|VIDEO|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>", "<unk>"]
EXTRA_SPECIALS = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
                  "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
                  "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}

# The released layout: a default system turn, each image as <|vision_bos|><|IMAGE|><|vision_eos|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are Qwen, a assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content %}"
    "<|vision_bos|><|IMAGE|><|vision_eos|>{% elif content['type'] == 'audio' or 'audio' in content %}"
    "<|audio_bos|><|AUDIO|><|audio_eos|>{% elif content['type'] == 'video' or 'video' in content %}"
    "<|vision_bos|><|VIDEO|><|vision_eos|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(chat_template: str = CHAT_TEMPLATE):
    from layerdream.models.tiny import build_word_tokenizer

    return build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n", ","], chat_template=chat_template,
                                bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
                                extra_special_tokens=EXTRA_SPECIALS)


def build_model_and_processor(*, layers: int = 2, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init Qwen2.5-Omni thinker with the real classes."""
    import torch
    from transformers import Qwen2_5OmniProcessor, Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration
    from transformers import WhisperFeatureExtractor

    from families.qwen2_5_vl import build_image_processor
    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    image_processor = build_image_processor(max_side=max_side)
    video = images_only_video_processor("Qwen2VLVideoProcessor", patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = make_processor(Qwen2_5OmniProcessor, image_processor=image_processor, video_processor=video,
                               feature_extractor=WhisperFeatureExtractor(feature_size=16), tokenizer=tokenizer,
                               chat_template=CHAT_TEMPLATE)
    config = Qwen2_5OmniThinkerConfig(
        audio_config=dict(num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, d_model=16,
                          output_dim=64, n_window=4),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=32, out_hidden_size=64,
                           fullatt_block_indexes=[1]),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         pad_token_id=ids("<|endoftext|>")),
        image_token_index=ids("<|IMAGE|>"), video_token_index=ids("<|VIDEO|>"), audio_token_index=ids("<|AUDIO|>"),
        audio_start_token_id=ids("<|audio_bos|>"), audio_end_token_id=ids("<|audio_eos|>"), user_token_id=ids("user"),
    )
    config.vision_start_token_id = ids("<|vision_bos|>")
    torch.manual_seed(seed)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
