"""Gemma 4 Unified (``Gemma4UnifiedForConditionalGeneration``): Gemma 4's adapter, encoder-free.

* **No vision tower.** ``Gemma4UnifiedVisionEmbedder`` maps each *merged* patch of raw pixels (k x k
  teacher patches of ``patch_size``, k = ``pooling_kernel_size``: 48 x 48 x 3 values on the released 16 / 3)
  through LayerNorm -> Linear -> LayerNorm, adds a factorised 2-D position embedding (x and y rows of a
  ``mm_posemb_size`` table), LayerNorm, then RMSNorm -> Linear into the LM: one token per merged patch, a
  linear patch embedding as Fuyu's. The gradient reaches the pixels through those few layers only.
* **Geometry as Gemma 4** (``gemma4.py``): the processor's aspect-preserving resize gives any square picture
  the side ``square_side(patch, max_soft_tokens x k^2, k)``: **768 px, 16 x 16 = 256 tokens** at the released
  280-token budget (384 / 528 / 1104 / 1584 px for 70 / 140 / 560 / 1120); a square at that size passes unresized.
* **Merged patches in.** ``pixel_values`` is (N, ``max_soft_tokens``, (k p)^2 x 3): the processor patchifies at
  ``patch_size`` and ``patches_merge`` regroups each k x k block, which amounts to (k p)-px patches with their
  pixels in (y, x, channel) order, row-major, zero-padded to the budget, with ``image_position_ids`` (x, y) per
  merged patch and (-1, -1) on padding. :meth:`preprocess` builds them directly (tested against the source's
  own ``patches_merge``). Pixels are only rescaled to [0, 1] (``do_normalize`` off, as in Gemma 4).
* **Bidirectional image block via ``mm_token_type_ids``** (``use_bidirectional_attention="vision"``, the
  default): the processor returns them and they reach the forward, as in Gemma 4.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .adapter import FamilyAdapter, VisionDims
from .gemma4 import Gemma4Adapter


class Gemma4UnifiedAdapter(Gemma4Adapter):
    model_types = ("gemma4_unified",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        self.max_tokens = int(processor.image_processor.max_soft_tokens)
        side = self.grid[0]
        xs, ys = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy")
        positions = torch.stack([xs, ys], dim=-1).reshape(side * side, 2)
        padding = torch.full((self.max_tokens - side * side, 2), -1, dtype=torch.long)
        self._positions = torch.cat([positions, padding]).unsqueeze(0)  # (1, max_soft_tokens, 2), merged patches

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        scaled = FamilyAdapter.preprocess(self, images)["pixel_values"]  # the fixed square, [0, 1] (mean/std if asked)
        n, c, h, w = scaled.shape
        p = self.patch * self.pooling  # one merged patch: k x k teacher patches
        patches = scaled.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(n, (h // p) * (w // p), p * p * c)
        patches = F.pad(patches, (0, 0, 0, self.max_tokens - patches.shape[1]))
        return {"pixel_values": patches, "image_position_ids": self._positions.to(images.device).expand(n, -1, -1)}

    def vision_dims(self) -> VisionDims:
        return VisionDims(tokens=self.max_tokens, width=int(self.model.config.vision_config.mm_embed_dim), mlp=0,
                          layers=0, heads=1)
