"""Video-LLaVA on a single image: LanguageBind/CLIP image tower (layer -2, CLS dropped) -> MLP -> Llama.

``VideoLlavaImageProcessor`` at its defaults except a 32-px resize and crop (the tiny tower: 8-px
patches, 4 x 4 = 16 tokens; 224 px, 16 x 16 = 256 on the real model), a ``VideoLlavaProcessor`` with a
video stand-in saved as ``VideoLlavaVideoProcessor``, Vicuna's ``USER: ... ASSISTANT:`` template in the
legacy file, a tokenizer that adds ``<s>``. The battery compares against the processor with
``return_legacy_image_output=False``: the one option, which only renames its output key from the
legacy ``pixel_values_images`` to the ``pixel_values`` the model takes (values unchanged).
"""
from __future__ import annotations

from families.llava import BASELINE, CHAT_TEMPLATE, CLIP_MEAN, CLIP_STD, WORDS, build_tokenizer, to_legacy_template

FAMILY = "video_llava"
CLASS = "VideoLlavaForConditionalGeneration"
PROCESSOR_KWARGS = {"return_legacy_image_output": False}


def build(folder) -> None:
    import torch
    from transformers import VideoLlavaConfig, VideoLlavaForConditionalGeneration, VideoLlavaProcessor
    from transformers.models.video_llava.image_processing_video_llava import VideoLlavaImageProcessor

    from layerdream.models.processors import images_only_video_processor, make_processor

    tokenizer = build_tokenizer(WORDS, special_tokens=["<unk>", "<s>", "</s>", "<image>", "<video>", "<pad>"],
                                extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    ids = tokenizer.convert_tokens_to_ids
    image_processor = VideoLlavaImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    video = images_only_video_processor("VideoLlavaVideoProcessor", size={"shortest_edge": 32})
    processor = make_processor(VideoLlavaProcessor, image_processor=image_processor, video_processor=video,
                               tokenizer=tokenizer, patch_size=8, chat_template=CHAT_TEMPLATE)
    config = VideoLlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         max_position_embeddings=256, pad_token_id=ids("<pad>"), bos_token_id=ids("<s>"),
                         eos_token_id=ids("</s>")),
        image_token_index=ids("<image>"), video_token_index=ids("<video>"), image_seq_length=16, video_seq_length=136,
    )
    torch.manual_seed(0)
    model = VideoLlavaForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    to_legacy_template(folder, CHAT_TEMPLATE)
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
