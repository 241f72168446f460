"""VideoLLaMA 3 (``VideoLlama3ForConditionalGeneration``) on single images: Qwen2.5-VL's pixels, 1-D positions.

* **Native resolution, fixed.** The image processor resizes to a multiple of patch x merge inside its pixel
  bounds, as Qwen's; for images the merge size is **1** (one token per 14-px patch; only videos are pooled
  2 x 2). layerdream fixes Qwen's 16 x 16-token square: **224 px** on the released checkpoints
  (``qwen2_5_vl.fixed_side``), where the resize is the identity.
* **Pixels** are Qwen2.5-VL's flattened patches (merge-window order, which is row-major at merge 1;
  temporal patch 1), with ``image_grid_thw`` and the per-image ``image_merge_sizes`` the tower needs.
* **Positions** are plain 1-D (a Qwen2 text model without M-RoPE): no ``position_ids`` are built.
* Videos (``<|video_pad|>``, frame compression) are never fed; the video slot may be the images-only stand-in.
"""
from __future__ import annotations

import torch

from .adapter import FamilyAdapter
from .qwen2_5_vl import Qwen2_5_VLAdapter


class VideoLlama3Adapter(Qwen2_5_VLAdapter):
    model_types = ("video_llama_3",)
    vision_block_terms = (1, 6)  # SigLIP block with a plain MLP: the memory model's generic term (not measured)

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = super().preprocess(images)
        n = pixels["image_grid_thw"].shape[0]
        pixels["image_merge_sizes"] = torch.full((n,), self.merge, dtype=torch.long, device=pixels["pixel_values"].device)
        return pixels

    def image_placeholder(self) -> str:
        return self.processor.image_token

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        return FamilyAdapter.image_prompt(self, prompt_format)

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        return FamilyAdapter.forward_inputs(self, prompt, pixels, n)
