"""Muse Glimmer (``MuseGlimmerForConditionalGeneration``): only what differs from the default adapter.

* **Native resolution, fixed here.** ``MuseGlimmerImageProcessor`` resizes each picture (``smart_resize``: the
  integer grid of ``patch_size`` x ``merge_size`` cells closest to its aspect ratio under ``max_image_tokens``),
  so the token count follows the picture. layerdream fixes a square of ``side`` x ``side`` tokens, ``side`` =
  min(16, sqrt(``max_image_tokens``)): **448 px, 32 x 32 patches of 14 px, merged 2 x 2 to 16 x 16 = 256
  tokens** on the released settings; such a square is its own ``smart_resize`` and passes unresized (so the
  processor's LANCZOS never runs on it).
* **Raster-order patches, (temporal, channel) inside.** ``pixel_values`` is (N x 32 x 32, 2 x 3 x 14 x 14):
  patches row-major over the whole image (not Qwen's merge windows), each laid out (temporal, channel, row,
  column), the still image repeated over the temporal patch; ``image_grid_thw`` = (1, 32, 32).
  :meth:`preprocess` builds the same.
* **Token order.** The tower (windowed / full attention, 2-D rotary and an interpolated position table) gathers
  each 2 x 2 block of patches into one token, blocks row-major (``pixel_shuffle``); then the vision adapter (two
  bias-free linears with GELU), a projection and a scale-free RMSNorm: the grid is 16 x 16 in sequence order.
  The prompt is ``<|image_start|>`` + ``<|patch|>`` x 256 + ``<|image_end|>``.
* **1-D positions.** The text model takes the processor's ids and plain 1-D positions (no M-RoPE): layer l is
  decoder block l's output on one residual stream (its NoPE full-attention and RoPE sliding blocks alike).
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, channel_stats, vision_dims_from_config
from .processors import share_chat_template

TOKENS_PER_SIDE = 16


class MuseGlimmerAdapter(FamilyAdapter):
    model_types = ("muse_glimmer",)

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        share_chat_template(processor)
        ip, vision = processor.image_processor, model.config.vision_config
        self.patch, self.merge, self.temporal = int(ip.patch_size), int(ip.merge_size), int(ip.temporal_patch_size)
        tower = (int(vision.patch_size), int(vision.merge_size), int(vision.patch_temporal))
        if (self.patch, self.merge, self.temporal) != tower:
            raise UserError(f"this {self.family_name} processor cuts {self.patch}-px patches ({self.temporal} frames, merged "
                            f"{self.merge}x{self.merge}) but the vision tower takes {tower[0]} px ({tower[2]} frames, "
                            f"{tower[1]}x{tower[1]}); use the processor saved with the model")
        self.side = min(TOKENS_PER_SIDE, math.isqrt(int(ip.max_image_tokens)))
        if self.side < 1:
            raise UserError(f"this {self.family_name} processor's max_image_tokens ({ip.max_image_tokens}) holds no image")
        self.image_size = self.side * self.patch * self.merge
        self.mean, self.std = channel_stats(ip)

    family_name = "Muse Glimmer"

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = super().preprocess(images)["pixel_values"]  # the fixed square, normalised
        n, c, h, w = x.shape
        p, t = self.patch, self.temporal
        gh, gw = h // p, w // p
        x = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5)  # n, gh, gw, c, ph, pw
        x = x.unsqueeze(3).expand(n, gh, gw, t, c, p, p)  # (temporal, channel) inside a patch
        grid_thw = torch.tensor([[1, gh, gw]], dtype=torch.long, device=x.device).expand(n, 3)
        return {"pixel_values": x.reshape(n * gh * gw, t * c * p * p), "image_grid_thw": grid_thw}

    def vision_dims(self) -> VisionDims:
        return vision_dims_from_config(self.model.config.vision_config, self.image_size)
