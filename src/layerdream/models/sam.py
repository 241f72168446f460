"""The memory model's view of a SAM ViT feeding a second encoder (DeepSeek-VL hybrid, DeepSeek-OCR 2,
Unlimited-OCR): one :class:`VisionDims` for both.

SAM's blocks over its patch grid dominate (4096 tokens at 1024 px / patch 16), so the dims are SAM's, and
the other encoder's blocks are counted as the SAM blocks they cost as much as: the memory model's
per-block term is tokens x (6 x width + MLP width), so a block of the other encoder weighs
``n (6 d + i)`` over SAM's ``n_sam (6 d_sam + i_sam)``.
"""
from __future__ import annotations

import math

from .adapter import VisionDims


def sam_dims(sam_config, image_size: int, *others: tuple[int, int, int, int]) -> VisionDims:
    """SAM at ``image_size`` px plus ``others``: (tokens, width, mlp, layers) of each further encoder."""
    tokens = (image_size // int(sam_config.patch_size)) ** 2
    width = int(sam_config.hidden_size)
    mlp = int(getattr(sam_config, "mlp_dim", None) or int(width * sam_config.mlp_ratio))
    per_block = tokens * (6 * width + mlp)
    extra = sum(layers * n * (6 * d + i) for n, d, i, layers in others)
    return VisionDims(tokens=tokens, width=width, mlp=mlp, layers=int(sam_config.num_hidden_layers) + math.ceil(extra / per_block),
                      heads=int(sam_config.num_attention_heads))
