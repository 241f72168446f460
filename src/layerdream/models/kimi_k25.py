"""Kimi K2.5 / K2.6 (``Kimi_K25ForConditionalGeneration``): native-resolution ViT + 2x2 projector into a
DeepSeek-V3 MoE text model.

* **Native resolution fixed.** The image processor (``Kimi_K25ImageProcessor``, torchvision-only in
  transformers 5.24) shrinks an image to a patch budget (``max_patches`` 16384, ``size["max_height"]``
  patches per side), never enlarges it, and zero-pads each side up to a multiple of patch x merge
  (28 px). layerdream fixes a square of ``TOKENS_PER_SIDE`` x ``TOKENS_PER_SIDE`` = 16 x 16 merged tokens,
  448 px (moved down where a checkpoint's budget is smaller): such a square is within the budget and a
  multiple of 28, so the processor neither resizes nor pads it and our pixels are its pixels.
* **Patches row-major, one image per block of the sequence.** The processor hands the tower each image as
  (gh * gw, 3, p, p) patches in raster order with ``image_grid_thw`` = (1, gh, gw); the tower embeds them
  with a convolution, adds its learned position grid (bicubically resampled to gh x gw), attends within each
  image (``cu_seqlens``), then pools each 2x2 window of patches into one token (``temporal_merge``), windows
  in raster order: token r * (gw/2) + c is window (r, c), so the grid is (gh/2, gw/2) = 16 x 16.
* **1-D positions.** No M-RoPE in the text model ("Kimi doesn't use m-rope"): the prompt's ids and mask only.
* **MoE routing is part of the forward** (DeepSeek-V3: sigmoid router scores with a per-expert bias for the
  choice, group-limited top-k, plus shared experts, no capacity limit): per token, inside the early-exit
  forward; the gradient flows through the chosen experts and their gate values, never through the discrete
  choice. Recorded in each result (:meth:`result_notes`). Blocks before ``first_k_dense_replace`` are dense.
* The processor's chat template is given to the tokenizer (``processors.share_chat_template``).
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, channel_stats
from .processors import share_chat_template

#: tokens per side of the fixed square (16 x 16 = 256, as Gemma 3, Qwen2.5-VL, Mistral 3)
TOKENS_PER_SIDE = 16


def _max_side(size) -> int:
    get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
    return int(get("max_height"))


class KimiK25Adapter(FamilyAdapter):
    model_types = ("kimi_k25",)

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        share_chat_template(processor)
        ip = processor.image_processor
        vision = model.config.vision_config
        self.patch, self.merge = int(vision.patch_size), int(vision.merge_kernel_size[0])
        if int(ip.patch_size) != self.patch or int(ip.merge_size) != self.merge or tuple(vision.merge_kernel_size) != (self.merge,) * 2:
            raise UserError(f"this Kimi K2.5 processor (patch {ip.patch_size}, merge {ip.merge_size}) does not match its "
                            f"vision tower (patch {self.patch}, merge kernel {tuple(vision.merge_kernel_size)}); use the "
                            "processor saved with the model")
        budget = min(int(ip.max_patches) ** 0.5, _max_side(ip.size))  # patches per side a square may keep
        self.side = min(TOKENS_PER_SIDE, int(budget) // self.merge)
        if self.side < 1:
            raise UserError(f"this Kimi K2.5 processor's patch budget ({ip.max_patches}) is below one merged token")
        self.image_size = self.side * self.merge * self.patch
        self.mean, self.std = channel_stats(ip)

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = FamilyAdapter.preprocess(self, images)["pixel_values"]  # the square, normalised
        n, c, h, w = x.shape
        p = self.patch
        gh, gw = h // p, w // p
        patches = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(n * gh * gw, c, p, p)
        grid_thw = torch.tensor([[1, gh, gw]], dtype=torch.long, device=x.device).expand(n, 3)
        return {"pixel_values": patches, "image_grid_thw": grid_thw}

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        dense = min(int(getattr(text, "first_k_dense_replace", 0) or 0), layer)
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} experts "
                               f"(sigmoid router, group-limited) + {int(text.n_shared_experts)} shared; blocks 1..{layer} "
                               f"run their routing ({dense} of them dense); gradients through the chosen experts and "
                               "their gate, not the discrete choice"}
