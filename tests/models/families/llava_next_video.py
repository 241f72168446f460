"""LLaVA-NeXT-Video on a single image: LLaVA-NeXT's image path (tiny tower and pinpoints as
``families/llava_next.py``: 16 base + 4 x 5 anyres tokens), a ``LlavaNextVideoProcessor`` whose video
slot holds the images-only stand-in saved as ``LlavaNextVideoVideoProcessor``, Vicuna's
``USER: ... ASSISTANT:`` template (as llava-hf/LLaVA-NeXT-Video-7B-hf, images rendered first) in the
legacy ``chat_template.json``, and a tokenizer that adds ``<s>``.
"""
from __future__ import annotations

from families.llava import (BASELINE, CHAT_TEMPLATE, CLIP_MEAN, CLIP_STD, WORDS, build_tokenizer,
                            rename_image_processor, to_legacy_template)
from families.llava_next import PINPOINTS

FAMILY = "llava_next_video"
CLASS = "LlavaNextVideoForConditionalGeneration"


def build(folder) -> None:
    import torch
    from transformers import LlavaNextVideoConfig, LlavaNextVideoForConditionalGeneration, LlavaNextVideoProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer(WORDS, special_tokens=["<unk>", "<s>", "</s>", "<image>", "<video>", "<pad>"],
                                extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    ids = tokenizer.convert_tokens_to_ids
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True,
        image_grid_pinpoints=PINPOINTS, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    video = images_only_video_processor("LlavaNextVideoVideoProcessor", size={"shortest_edge": 32},
                                        image_mean=CLIP_MEAN, image_std=CLIP_STD)
    processor = make_processor(LlavaNextVideoProcessor, video_processor=video, image_processor=image_processor,
                               tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
                               chat_template=CHAT_TEMPLATE, image_token="<image>", video_token="<video>",
                               num_additional_image_tokens=1)
    config = LlavaNextVideoConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        image_token_id=ids("<image>"), video_token_id=ids("<video>"), vision_feature_layer=-2,
        vision_feature_select_strategy="default", image_grid_pinpoints=PINPOINTS, image_seq_length=16,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    model = LlavaNextVideoForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    to_legacy_template(folder, CHAT_TEMPLATE)
    rename_image_processor(folder, "LlavaNextImageProcessor")
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
