"""GLM-4.1V: ViT (patch 14 there, 8 here) -> 2x2 merger -> GLM-4 with 3-D M-RoPE on part of each head.

``Glm4vImageProcessorPil`` at its defaults except ``patch_size`` 8 (the tiny tower's) and, by default here,
a ``longest_edge`` budget of 2 x 64 x 64 px (the temporal patch counts), so the battery's square is 4 x 4
tokens; at the default bounds it is 16 x 16 (256 px here, 448 px on the released checkpoints: 1024
patches, ~20 s of the battery on CI's CPU), which tests/models/test_glm4v.py runs (``max_side=None``). Video slot:
the images-only stand-in saved as ``Glm4vVideoProcessor``. The template is a reduced GLM-4.1V template
(``[gMASK]<sop><|user|>\\n<|begin_of_image|><|image|><|end_of_image|><|assistant|>\\n``); no BOS token.
"""
from __future__ import annotations

from families import save_checkpoint

FAMILY = "glm4v"
CLASS = "Glm4vForConditionalGeneration"
PATCH = 8

CHAT_TEMPLATE = (
    "[gMASK]<sop>{%- for msg in messages %}{%- if msg.role == 'system' %}<|system|>\n{{ msg.content }}"
    "{%- elif msg.role == 'user' %}<|user|>{{ '\n' }}{%- if msg.content is string %}{{ msg.content }}{%- else %}"
    "{%- for item in msg.content %}{%- if item.type == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{%- elif item.type == 'text' %}{{ item.text }}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- elif msg.role == 'assistant' %}<|assistant|>\n{{ msg.content }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
WORDS = ["red", "blue", "green", "dog", "cat", "sky", "grass", "the", "a", "of", "is", "on", "with", "and",
         "image", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "big", "small"]
SPECIALS = ["<|endoftext|>", "[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|begin_of_image|>",
            "<|end_of_image|>", "<|image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|video|>", "<unk>"]


def build_model_and_processor(*, layers: int = 2, seed: int = 0, config_cls=None, model_cls=None, text=None,
                              processor_cls=None, image_processor_cls=None, max_side: int | None = 64, vision=None):
    import torch
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration, Glm4vProcessor
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(WORDS, special_tokens=SPECIALS, template_words=["\n"], chat_template=CHAT_TEMPLATE,
                               bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token="<unk>",
                               extra_special_tokens={"image_token": "<|image|>", "video_token": "<|video|>"})
    tok.add_tokens(SPECIALS[1:12], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    video = images_only_video_processor("Glm4vVideoProcessor", patch_size=PATCH)
    bounds = {"size": {"shortest_edge": 2 * 32 * 32, "longest_edge": 2 * max_side * max_side}} if max_side else {}
    processor = make_processor(processor_cls or Glm4vProcessor,
                               image_processor=(image_processor_cls or Glm4vImageProcessorPil)(patch_size=PATCH, **bounds), tokenizer=tok,
                               video_processor=video, chat_template=CHAT_TEMPLATE)
    text_config = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2],
                                        "partial_rotary_factor": 0.5},
                       pad_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|endoftext|>"))
    text_config.update(text or {})
    config = (config_cls or Glm4vConfig)(
        vision_config={**dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=1, patch_size=PATCH, image_size=64,
                              spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32), **(vision or {})},
        text_config=text_config,
        image_token_id=ids("<|image|>"), video_token_id=ids("<|video|>"), image_start_token_id=ids("<|begin_of_image|>"),
        image_end_token_id=ids("<|end_of_image|>"), video_start_token_id=ids("<|begin_of_video|>"),
        video_end_token_id=ids("<|end_of_video|>"),
    )
    torch.manual_seed(seed)
    return (model_cls or Glm4vForConditionalGeneration)(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
