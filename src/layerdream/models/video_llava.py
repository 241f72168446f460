"""Video-LLaVA (``VideoLlavaForConditionalGeneration``) on single images: LLaVA-1.5's adapter.

An image takes the model's image path: the LanguageBind image tower (a CLIP-L/14 ViT at 224 px) from
``vision_feature_layer`` -2 with CLS dropped (``default`` strategy), an MLP, 256 ``<image>`` tokens in
row-major order; the separate video tower is never used. The image processor is CLIP-style (shortest
edge 224, centre crop 224, BICUBIC, CLIP mean/std), so ``llava.py``'s crop-size reading, template
sharing and CLS handling apply unchanged.

Names, transformers 5.24: the image processor still returns its images under the legacy key
``pixel_values_images`` by default (``return_legacy_image_output=True``, with a deprecation warning);
the model takes ``pixel_values`` (the legacy name is a deprecated alias), which is what
:meth:`preprocess` returns, and what the adapter asks the image processor for where it calls it (a
photo for ``align``: ``image_processor_kwargs``; it read ``pixel_values`` and failed). The processor carries a torchvision-only video processor, replaced by the
images-only stand-in where torchvision does not import (``processors.load_processor``).
"""
from __future__ import annotations

from .llava import LlavaAdapter


class VideoLlavaAdapter(LlavaAdapter):
    model_types = ("video_llava",)
    #: the current output key (``pixel_values``) where layerdream calls the image processor (photos)
    image_processor_kwargs = {"return_legacy_image_output": False}
