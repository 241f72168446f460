"""VipLLaVA (``VipLlavaForConditionalGeneration``): LLaVA-1.5's adapter unchanged.

What differs from LLaVA-1.5 happens inside the model and changes nothing the adapter does: the image
features concatenate five CLIP layers (``vision_feature_layer`` -2, -5, -8, -11, 6, CLS dropped from
each) before a LayerNorm + MLP projector, so there are still ``(image_size // patch_size)^2`` image
tokens (576 at 336/14) in row-major order. There is no select strategy: CLS never enters the sequence.
The processor is a ``LlavaProcessor`` (CLIP crop, chat template in the processor's legacy file),
handled by ``llava.py``; the memory model counts the whole tower, as for LLaVA.
"""
from __future__ import annotations

from .llava import LlavaAdapter


class VipLlavaAdapter(LlavaAdapter):
    model_types = ("vipllava",)
