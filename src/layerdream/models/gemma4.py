"""Gemma 4 (``Gemma4ForConditionalGeneration``): only what differs from the default adapter.

* **Variable resolution, fixed here.** The processor resizes each picture, aspect preserved, to the
  largest size whose ``patch_size`` patches fit a budget of ``max_soft_tokens * k^2`` patches
  (k = ``pooling_kernel_size``, 3) with sides multiple of ``patch_size * k``; the token count varies
  with the picture. layerdream fixes one geometry: the square the processor makes of any square
  picture, read from the checkpoint's budget. With the released 16-px patches and the default
  budget of 280 soft tokens that is 768 px, 48x48 patches, pooled 3x3 to **16x16 = 256 tokens**
  (280 is an upper bound that a square never reaches); budgets 70/140/560/1120 give 384/528/1104/
  1584 px (8x8, 11x11, 23x23, 33x33 tokens). An image at that size passes the processor unresized.
* **Patches in, not pixels.** ``pixel_values`` is (N, max_patches, 3 * patch^2), patch-major and
  row-major with (y, x, channel) inside a patch, zero-padded to the budget, with
  ``image_position_ids`` (x, y) per patch and (-1, -1) on padding: :meth:`preprocess` builds both in
  torch, exactly as the processor does, so the pooled tokens follow the same order.
* **No normalisation in the processor.** The released processors only rescale to [0, 1]; the model
  maps pixels to [-1, 1] itself. Mean/std are applied only where a checkpoint asks for them.
* **Pooling by position** averages 3x3 patch blocks into tokens in row-major block order, so the
  grid is (side / (patch * k)) squared.
* **Bidirectional image block via ``mm_token_type_ids``** (26B/31B: ``use_bidirectional_attention=
  "vision"``, on sliding layers): the processor returns them and they must reach the forward,
  otherwise the block is silently causal. E2B/E4B ignore them (causal everywhere).
* **One template on both sides**: the tokenizer gets the processor's chat template where they differ
  (``processors.share_chat_template``), so concept prompts and image prompts share one template.
* **Per-layer embeddings and KV sharing** (E2B/E4B) need nothing here: the model derives the
  per-layer inputs from the ids (pad at image positions), and layers that reuse an earlier layer's
  keys run after it, so early exit at any layer sees them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, vision_dims_from_config
from .processors import share_chat_template


def square_side(patch_size: int, max_patches: int, pooling: int) -> int:
    """The side the processor gives any square picture (its aspect-preserving rule at aspect 1)."""
    step = patch_size * pooling
    return int(math.floor(patch_size * math.sqrt(max_patches) / step)) * step


class Gemma4Adapter(FamilyAdapter):
    model_types = ("gemma4",)
    extra_input_names = ("mm_token_type_ids",)

    def __init__(self, model, processor):
        ip = processor.image_processor
        self.model, self.processor = model, processor
        share_chat_template(processor)  # text prompts use the template the image prompt uses
        self.patch = int(ip.patch_size)
        self.pooling = int(ip.pooling_kernel_size)
        self.max_patches = int(ip.max_soft_tokens) * self.pooling**2
        if int(model.config.vision_config.patch_size) != self.patch:
            raise UserError(f"this Gemma 4 checkpoint's processor uses {self.patch}-px patches but its vision tower "
                            f"{model.config.vision_config.patch_size}-px; use the processor saved with the model")
        self.image_size = square_side(self.patch, self.max_patches, self.pooling)
        if self.image_size <= 0:
            raise UserError(f"Gemma 4 budget of {ip.max_soft_tokens} soft tokens leaves no square image; use the "
                            "processor saved with the model")
        normalise = bool(getattr(ip, "do_normalize", False))
        mean = ip.image_mean if normalise else [0.0] * 3
        std = ip.image_std if normalise else [1.0] * 3
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        side = self.image_size // self.patch
        xs, ys = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy")
        positions = torch.stack([xs, ys], dim=-1).reshape(side * side, 2)
        padding = torch.full((self.max_patches - side * side, 2), -1, dtype=torch.long)
        self._positions = torch.cat([positions, padding]).unsqueeze(0)  # (1, max_patches, 2)

    @property
    def grid(self) -> tuple[int, int]:
        side = self.image_size // (self.patch * self.pooling)
        return side, side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        scaled = super().preprocess(images)["pixel_values"]  # resized to the fixed square, mean/std if asked
        n, c, h, w = scaled.shape
        p = self.patch
        patches = scaled.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(n, (h // p) * (w // p), p * p * c)
        patches = F.pad(patches, (0, 0, 0, self.max_patches - patches.shape[1]))  # zero patches, as the processor pads
        return {"pixel_values": patches, "image_position_ids": self._positions.to(images.device).expand(n, -1, -1)}

    def vision_dims(self) -> VisionDims:
        dims = vision_dims_from_config(self.model.config.vision_config, self.image_size)
        return VisionDims(tokens=self.max_patches, width=dims.width, mlp=dims.mlp, layers=dims.layers, heads=dims.heads)
