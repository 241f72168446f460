"""Unlimited-OCR (``UnlimitedOcrForConditionalGeneration``): DeepSeek-OCR 2's adapter with what differs.

* **Geometry: the processor's global-only case**, as DeepSeek-OCR 2 (``deepseek_ocr2.py``): at its
  defaults a picture larger than ``tile_size`` (640 px) is tiled; one of at most 640 px gets the global
  view only, enlarged (BICUBIC, antialiased) to ``max(size)`` (1024 px). layerdream feeds one **640-px
  square** and reproduces that enlargement with PIL's filter as matrices (torchvision's antialiased
  bicubic is the same a = -0.5 kernel with the same support and normalisation).
* **Image tokens at places.** SAM ViT-B (64 x 64 patches) -> two stride-2 convolutions (16 x 16) -> a
  CLIP-L encoder taking those maps as its patch embeddings; per place, [CLIP output, SAM feature] ->
  linear. The 16 x 16 tokens sit row-major with the learned ``image_newline`` after each row and the
  learned ``view_separator`` after the last: **16 x 17 + 1 = 273** ``<image>`` positions, of which the
  256 grid tokens are the image tokens (newlines and separator carry no pixel), on a spatial grid.
* **MoE text model** (DeepSeek-V2-style, softmax top-k): as DeepSeek-OCR 2, the routing rule recorded.
  Its ``reference_sliding_attention`` layers attend causally over the whole prompt in a forward without a
  cache (the window applies only to tokens generated after a prefill), so "layer l" is the plain one.
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import VisionDims
from .deepseek_ocr2 import DeepseekOcr2Adapter
from .sam import sam_dims


class UnlimitedOcrAdapter(DeepseekOcr2Adapter):
    model_types = ("unlimited_ocr",)
    spatial_layout = True

    @staticmethod
    def _global_size(ip) -> int:
        return max(int(ip.size["height"]), int(ip.size["width"]))  # UnlimitedOcrImageProcessor's global target

    def _check_side(self, model, processor) -> int:
        side = math.ceil(self.global_size // processor.patch_size / processor.downsample_ratio)  # the processor's count
        grid = self.global_size // int(model.config.vision_config.sam_config.patch_size) // 4
        if side != grid:
            raise UserError(f"this Unlimited-OCR processor writes a {side} x {side} global view but the model makes "
                            f"{grid} x {grid} at {self.global_size} px; use the processor saved with the model")
        return side

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The grid tokens: each row's newline (the last of its side + 1) and the final separator left out."""
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        side = self._side
        if positions.numel() != side * (side + 1) + 1:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {side} x ({side} + 1 "
                               "newline) + 1 separator")
        return positions[:-1].view(side, side + 1)[:, :side].flatten()

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        enc = vision.encoder_config
        return sam_dims(vision.sam_config, self.global_size, (self._side**2 + 1, int(enc.hidden_size),
                                                              int(enc.intermediate_size), int(enc.num_hidden_layers)))

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        return {"moe_routing": f"per-token softmax top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} "
                               "experts + shared experts; gradients through the chosen experts and their gate, "
                               "not the discrete choice"}
