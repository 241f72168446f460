"""Aria (``AriaForConditionalGeneration``): only what differs from the default adapter.

* **Learned queries, no grid.** The projector's learned queries cross-attend to the ViT features (128
  queries at 490 px, 256 at 980 px): no image token is a place in the image. The rule, as for Idefics2's
  perceiver and BLIP-2's Q-Former: the spatial prior is **flat** (``spatial_layout = False``), ``grid`` is
  only the count as rows x cols, and every result records it.
* **Geometry.** The processor resizes the longest side to ``max_image_size`` (490 or 980; 980 on the
  released checkpoints; the processor's call default, ``AriaProcessor.images_kwargs``, overrides
  what its image processor saved) and pads to a square with ``pixel_mask``; with splitting off (its default) a
  square picture of that size is one crop with a full mask: layerdream fixes that square.
* ``pixel_mask`` (all true) goes with the pixels; the MoE text model routes per token (one stream).
"""
from __future__ import annotations

import math

import torch

from .adapter import FamilyAdapter, channel_stats


class AriaAdapter(FamilyAdapter):
    model_types = ("aria",)
    spatial_layout = False

    def __init__(self, model, processor):  # the processor has no square ``size``: its max_image_size is the side
        self.model, self.processor = model, processor
        ip = processor.image_processor
        # the processor's call defaults win over its image processor's saved max_image_size (980 either way on the
        # released checkpoints; a tiny test checkpoint saved with 490 is still processed at 980)
        self.image_size = int((getattr(processor, "images_kwargs", None) or {}).get("max_image_size") or ip.max_image_size)
        self.mean, self.std = channel_stats(ip)
        queries = int(processor.size_conversion[self.image_size])
        rows = math.isqrt(queries)
        while queries % rows:
            rows -= 1
        self._grid = (rows, queries // rows)

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = super().preprocess(images)["pixel_values"]
        mask = torch.ones(x.shape[0], x.shape[-2], x.shape[-1], dtype=torch.bool, device=x.device)
        return {"pixel_values": x, "pixel_mask": mask}

    def result_notes(self, layer: int) -> dict:
        return {"spatial_prior": "flat: the image tokens are the projector's learned queries, not places"}
