"""DeepSeek-VL (``DeepseekVLForConditionalGeneration``): Janus's understanding path without the VQ part.

A SigLIP tower (384 px, patch 16: 24 x 24 = 576 patches, no pooling) and an MLP aligner, scattered into
the ``<image_placeholder>`` positions row-major; the processor shrinks the longest side to 384 and pads
to a square with the mean colour, which a 384-px square passes unchanged. Everything is as in
``janus.py`` except the tower's config, a plain SigLIP one (``intermediate_size``), which the default
reader of the memory model handles. (``deepseek_vl_hybrid`` adds a SAM high-resolution branch:
``deepseek_vl_hybrid.py``.)
"""
from __future__ import annotations

from .adapter import FamilyAdapter
from .janus import JanusAdapter


class DeepseekVLAdapter(JanusAdapter):
    model_types = ("deepseek_vl",)
    vision_dims = FamilyAdapter.vision_dims  # a SigLIP config, not Janus's mlp_ratio one
