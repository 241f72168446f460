"""GLM-GA (``model_type`` ``glmga``): GLM-4.6V's model and processor classes (``Glm46VForConditionalGeneration``,
``Glm46VProcessor``) with its own config (``GlmgaConfig``) and image processor (``GlmgaImageProcessorPil``, which
adds a ``patch_expand_factor``). The tiny checkpoint is GLM-4.1V's (tests/models/families/glm4v.py: patch 8, a
2 x 64^2-px budget, 4 x 4 tokens, the reduced GLM template) under these classes; video slot: the images-only
stand-in saved as ``GlmgaVideoProcessor``.
"""
from __future__ import annotations

from families import glm4v, save_checkpoint

FAMILY = "glmga"
CLASS = "Glm46VForConditionalGeneration"


def build_model_and_processor(**kwargs):
    from transformers import Glm46VForConditionalGeneration, Glm46VProcessor, GlmgaConfig
    from transformers.models.glmga.image_processing_pil_glmga import GlmgaImageProcessorPil

    from layerdream.models.processors import images_only_video_processor

    model, processor = glm4v.build_model_and_processor(
        config_cls=GlmgaConfig, model_cls=Glm46VForConditionalGeneration, processor_cls=Glm46VProcessor,
        image_processor_cls=GlmgaImageProcessorPil, **kwargs)
    processor.video_processor = images_only_video_processor("GlmgaVideoProcessor", patch_size=glm4v.PATCH)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), glm4v.BASELINE)
