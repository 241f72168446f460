"""LLaVA-OneVision ``-hf``: SigLIP tower (no CLS, ``full`` strategy), anyres_max_9, newline tokens, Qwen2.

The tiny tower takes 32 px in 8-px patches (g = 4); the pinpoints are OneVision's 384..2304-px
canvases scaled to 32..192, so a 32-px square is itself a pinpoint, as 384 px is on the real model:
base view + one identical tile, 16 base tokens + 4 x 5 anyres tokens with newlines. The processor is
the real ``LlavaOnevisionProcessor`` with its Qwen chat template (legacy ``chat_template.json``) and
a video processor saved as ``LlavaOnevisionVideoProcessor`` (it loads here without torchvision).
"""
from __future__ import annotations

from families.llava import BASELINE, WORDS, rename_image_processor, to_legacy_template

FAMILY = "llava_onevision"
CLASS = "LlavaOnevisionForConditionalGeneration"

# llava-hf/llava-onevision-qwen2-*-ov-hf chat template
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\\n' + content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ '\\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>", "<unk>"]
PINPOINTS = [[32 * i, 32 * j] for i in range(1, 7) for j in range(1, 7)]  # anyres_max_9's 384..2304, x 32/384
SIGLIP_MEAN = SIGLIP_STD = [0.5, 0.5, 0.5]


def build(folder) -> None:
    import torch
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor
    from layerdream.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer(
        WORDS, special_tokens=SPECIAL_TOKENS, template_words=["user", "assistant", "\n"], chat_template=None,
        bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>", "im_start_token": "<|im_start|>"})
    ids = tokenizer.convert_tokens_to_ids
    size = {"height": 32, "width": 32}
    image_processor = LlavaOnevisionImageProcessorPil(size=size, image_grid_pinpoints=PINPOINTS, image_mean=SIGLIP_MEAN,
                                                      image_std=SIGLIP_STD)
    video = images_only_video_processor("LlavaOnevisionVideoProcessor", size=size, image_mean=SIGLIP_MEAN,
                                        image_std=SIGLIP_STD)
    processor = make_processor(LlavaOnevisionProcessor, image_processor=image_processor, tokenizer=tokenizer,
                               video_processor=video, num_image_tokens=16, vision_feature_select_strategy="full",
                               chat_template=CHAT_TEMPLATE, image_token="<image>", video_token="<video>",
                               vision_aspect_ratio="anyres_max_9")
    config = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, vision_use_head=False),
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<|endoftext|>"), bos_token_id=None,
                         eos_token_id=ids("<|im_end|>")),
        image_token_id=ids("<image>"), video_token_id=ids("<video>"), vision_feature_layer=-1,
        vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_9", image_grid_pinpoints=PINPOINTS,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    to_legacy_template(folder, CHAT_TEMPLATE)
    rename_image_processor(folder, "LlavaOnevisionImageProcessor")
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
