"""Muse Spark: Muse Glimmer's vision path (``families/muse_glimmer.py``: the same twin of the torchvision-only
``MuseGlimmerImageProcessor``, which transformers maps to ``muse_spark``; 8-px patches, a 64-px square, 4 x 4
tokens) -> MoE text model (both blocks sparse: top-2 of 4 experts, sigmoid routing; gated residuals), plus a tiny
audio tower that an image prompt never runs.

The real ``MuseSparkProcessor`` with the real ``MuseSparkFeatureExtractor``, the images-only video stand-in and
the Muse Glimmer module's reduced template and tokenizer (plus the audio tokens).
"""
from __future__ import annotations

from families import muse_glimmer as mg
from families import save_checkpoint

FAMILY = "muse_spark"
CLASS = "MuseSparkForConditionalGeneration"
AUDIO = ["<|audio|>", "<|soft_audio_start|>", "<|soft_audio_end|>"]


def build_model_and_processor(*, layers: int = 2, seed: int = 0, experts: int = 4):
    import torch
    from transformers import MuseSparkConfig, MuseSparkForConditionalGeneration, MuseSparkProcessor
    from transformers.models.muse_spark.feature_extraction_muse_spark import MuseSparkFeatureExtractor

    from layerdream.models.processors import images_only_video_processor, make_processor

    mg.register_twin(MuseSparkConfig)
    tok = mg.tokenizer()
    tok.add_tokens(AUDIO, special_tokens=True)
    ids = tok.convert_tokens_to_ids
    image_processor = mg.MuseGlimmerImageProcessorTwin(patch_size=mg.PATCH, max_image_tokens=mg.MAX_TOKENS)
    video = images_only_video_processor("MuseGlimmerVideoProcessor", patch_size=mg.PATCH, merge_size=2, temporal_patch_size=2)
    processor = make_processor(MuseSparkProcessor, image_processor=image_processor, video_processor=video, tokenizer=tok,
                               feature_extractor=MuseSparkFeatureExtractor(), chat_template=mg.CHAT_TEMPLATE)
    text = mg.text_config(tok, layers) | dict(num_local_experts=experts, num_experts_per_tok=2, moe_intermediate_size=32,
                                              moe_hidden_size=32, mlp_layer_types=["sparse"] * layers)
    config = MuseSparkConfig(
        vision_config=mg.vision_config(), text_config=text,
        audio_config=dict(patch_sizes=[4, 2], hidden_sizes=[16, 32], depths=[1, 1], num_hidden_layers=2, out_hidden_size=32),
        image_token_id=ids("<|patch|>"), video_token_id=ids("<|video|>"), audio_token_id=ids("<|audio|>"),
        out_hidden_size=32 * 4, projector_hidden_size=64,
    )
    torch.manual_seed(seed)
    return MuseSparkForConditionalGeneration(config).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), mg.BASELINE)
