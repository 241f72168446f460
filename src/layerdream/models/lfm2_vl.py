"""LFM2-VL (``Lfm2VlForConditionalGeneration``: LiquidAI LFM2-VL 450M / 1.6B / 3B): only what differs.

* **One tile, native-resolution pixels fixed.** ``Lfm2VlImageProcessor`` resizes an image that fits
  (``smart_resize``: each side to a multiple of ``encoder_patch_size`` x ``downsample_factor`` = 32 px,
  the area within ``min_image_tokens``..``max_image_tokens`` tokens) and splits larger ones into 512-px
  tiles plus a thumbnail. layerdream fixes a square of ``side`` x ``side`` tokens, ``side`` =
  min(16, sqrt(``max_image_tokens``)): **512 px, 32 x 32 patches of 16 px, pixel-unshuffled (2) to
  16 x 16 = 256 tokens**; such a square is its own ``smart_resize`` (its sides are multiples of 32, its
  area exactly ``max_image_tokens``), is not "too large" (tolerance 2) and so is neither resized nor tiled.
* **NaFlex patches.** The SigLIP2 tower takes flattened patches, not an image: ``pixel_values`` is
  (N, P, 16 x 16 x 3), each patch's pixels in (row, column, channel) order, patches row-major, padded with
  zeros to the processor's ``max_num_patches`` (1024 at the defaults), with ``pixel_attention_mask`` (1 for
  real patches) and ``spatial_shapes`` (32, 32). :meth:`preprocess` builds the same three.
* **Token order.** The model gathers each 2 x 2 block of patches into one token, blocks row-major
  (``get_image_features``): the grid is 16 x 16 in sequence order. The prompt is ``<|image_start|>`` +
  ``<image>`` x 256 + ``<|image_end|>``.
* **Hybrid LM.** LFM2's blocks are short convolutions or attention (``layer_types``) on one residual
  stream: layer l is block l's output as in any decoder.
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, channel_stats
from .processors import share_chat_template

TOKENS_PER_SIDE = 16


class Lfm2VlAdapter(FamilyAdapter):
    model_types = ("lfm2_vl",)

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        share_chat_template(processor)
        ip = processor.image_processor
        self.patch = int(ip.encoder_patch_size)
        self.factor = int(ip.downsample_factor)
        if self.patch != int(model.config.vision_config.patch_size) or self.factor != int(model.config.downsample_factor):
            raise UserError(f"this LFM2-VL processor cuts {self.patch}-px patches merged {self.factor}x{self.factor}, but the "
                            f"model takes {model.config.vision_config.patch_size} px and {model.config.downsample_factor}; "
                            "use the processor saved with the model")
        self.side = min(TOKENS_PER_SIDE, math.isqrt(int(ip.max_image_tokens)))
        if self.side * self.side < int(ip.min_image_tokens):
            raise UserError(f"this LFM2-VL processor's token range ({ip.min_image_tokens}..{ip.max_image_tokens}) holds no "
                            "square token grid")
        self.image_size = self.side * self.patch * self.factor
        splitting = bool(getattr(ip, "do_image_splitting", True))
        self.max_patches = max(int(ip.max_image_tokens) * self.factor ** 2,
                               (int(ip.tile_size) // self.patch) ** 2 if splitting else 0)
        self.mean, self.std = channel_stats(ip)

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = FamilyAdapter.preprocess(self, images)["pixel_values"]  # the square, normalised
        n, p = x.shape[0], self.patch
        rows = cols = self.image_size // p
        patches = x.reshape(n, 3, rows, p, cols, p).permute(0, 2, 4, 3, 5, 1).reshape(n, rows * cols, p * p * 3)
        pad = self.max_patches - rows * cols
        patches = torch.nn.functional.pad(patches, (0, 0, 0, pad))
        mask = torch.zeros(n, self.max_patches, dtype=torch.int32, device=x.device)
        mask[:, : rows * cols] = 1
        shapes = torch.tensor([[rows, cols]], device=x.device).expand(n, -1)
        return {"pixel_values": patches, "pixel_attention_mask": mask, "spatial_shapes": shapes}

    def vision_dims(self) -> VisionDims:
        v = self.model.config.vision_config
        return VisionDims(tokens=self.max_patches, width=int(v.hidden_size), mlp=int(v.intermediate_size),
                          layers=int(v.num_hidden_layers), heads=int(v.num_attention_heads))
