"""GLM-OCR (``GlmOcrForConditionalGeneration``): GLM-4V's layout with its own tower (no learned position
embeddings, no post-convolution norm, q/k RMSNorm in every vision attention, biased projections) and text
model (full-width M-RoPE: ``partial_rotary_factor`` 1.0, no attention biases), read through GLM-4.6V's
processor (the released checkpoint's ``Glm46VProcessor`` + ``Glm46VImageProcessor``).

The tiny checkpoint is GLM-4.1V's (tests/models/families/glm4v.py: patch 8, a 2 x 64^2-px budget, 4 x 4
tokens, the reduced GLM template) under GLM-OCR's classes, with ``Glm46VImageProcessorPil`` (the PIL twin of
the checkpoint's image processor) at its defaults but the tiny patch and budget. The tower's MLP is 64 wide
(``intermediate_size``, which GLM-OCR's MLP reads; GLM-4V's reads ``out_hidden_size``, 32) with two heads.
"""
from __future__ import annotations

from families import glm4v, save_checkpoint

FAMILY = "glm_ocr"
CLASS = "GlmOcrForConditionalGeneration"
# full-width M-RoPE as released (mrope_section [16, 24, 24] of head_dim 128): here [2, 3, 3] of head_dim 16
TEXT = {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                            "partial_rotary_factor": 1.0}}


def build_model_and_processor(**kwargs):
    from transformers import Glm46VProcessor, GlmOcrConfig, GlmOcrForConditionalGeneration
    from transformers.models.glm46v.image_processing_pil_glm46v import Glm46VImageProcessorPil

    from layerdream.models.processors import images_only_video_processor

    model, processor = glm4v.build_model_and_processor(
        config_cls=GlmOcrConfig, model_cls=GlmOcrForConditionalGeneration, processor_cls=Glm46VProcessor,
        image_processor_cls=Glm46VImageProcessorPil, text={**TEXT, **kwargs.pop("text", {})},
        vision={"intermediate_size": 64, "num_heads": 2}, **kwargs)  # GLM-OCR's MLP is intermediate_size wide
    processor.video_processor = images_only_video_processor("Glm46VVideoProcessor", patch_size=glm4v.PATCH)
    return model, processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), glm4v.BASELINE)
