"""Qianfan-OCR (``QianfanOCRForConditionalGeneration``): InternVL's adapter under its own classes.

transformers 5.24 builds Qianfan-OCR from InternVL (modular_qianfan_ocr.py): the same InternViT (with
stochastic depth, inactive in eval), pixel shuffle by ``downsample_ratio`` and MLP projector, a Qwen3
text model, and ``QianfanOCRProcessor`` = InternVL's processor with a GotOcr2 image processor
(``crop_to_patches`` on by default). What differs is the prompt: the chat template writes the
placeholder ``<image>`` (``processor.image_placeholder_token``), which the processor replaces by
``<img>`` + ``image_seq_length`` x ``<IMG_CONTEXT>`` + ``</img>``; the image tokens are still
``<IMG_CONTEXT>`` (``config.image_token_id``). So the geometry, the one-tile check and the grid are
InternVL's; only the raw prompt's placeholder is Qianfan's own.
"""
from __future__ import annotations

from .internvl import InternVLAdapter


class QianfanOCRAdapter(InternVLAdapter):
    model_types = ("qianfan_ocr",)

    def image_placeholder(self) -> str:
        """What the processor expands (``<image>``), not the image token it expands it into."""
        return getattr(self.processor, "image_placeholder_token", None) or "<image>"
