"""LLaVA-NeXT-Video (``LlavaNextVideoForConditionalGeneration``) on single images: LLaVA-NeXT's adapter.

For an image the model takes LLaVA-NeXT's path unchanged (anyres tiles + base view, CLIP layer -2 with
CLS dropped, learned ``image_newline`` per row); its video path (frames pooled by
``spatial_pool_stride``, ``<video>`` tokens) is never used, since layerdream feeds one still image. So
everything ``llava_next.py`` fixes holds here: one tile-sized square, the canvas the model's own
``select_best_resolution`` picks for it, the (g, g + 1) grid of the anyres block. The processor
carries a video processor, which needs torchvision; ``processors.load_processor`` fills that slot
with the images-only stand-in where torchvision does not import.
"""
from __future__ import annotations

from .llava_next import LlavaNextAdapter


class LlavaNextVideoAdapter(LlavaNextAdapter):
    model_types = ("llava_next_video",)
