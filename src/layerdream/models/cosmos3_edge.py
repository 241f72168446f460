"""Cosmos 3 Edge (``Cosmos3EdgeForConditionalGeneration``): Qwen2.5-VL's adapter with a temporal patch of 1.

Its image processor patchifies in Qwen's merge-window order (flattened ``pixel_values`` +
``image_grid_thw``) but lays each patch out **height, width, channel** (then time; Qwen: channel, time,
height, width) and uses ``temporal_patch_size`` 1 (a still image is not repeated in time):
:meth:`preprocess` reproduces that layout (tested against the processor); the model builds 3-D M-RoPE positions with its own
``get_rope_index`` (``mm_token_type_ids``), which the adapter calls once per prompt and passes explicitly.
Upstream quirk (transformers 5.24): ``Cosmos3EdgeProcessor`` does not return ``mm_token_type_ids`` by
default (``return_mm_token_type_ids`` False), yet the model refuses image inputs without them; the adapter
asks the processor for them while it builds the prompt (users calling the model directly must pass
``return_mm_token_type_ids=True``).
The tower is SigLIP-style (learned position embeddings, ``intermediate_size``): the memory model reads it
with the generic ViT terms.
"""
from __future__ import annotations

import torch

from .adapter import FamilyAdapter
from .qwen2_5_vl import Qwen2_5_VLAdapter


class Cosmos3EdgeAdapter(Qwen2_5_VLAdapter):
    model_types = ("cosmos3_edge",)
    vision_dims = FamilyAdapter.vision_dims  # a plain ViT config and MLP, not Qwen2.5-VL's gated one

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = FamilyAdapter.preprocess(self, images)["pixel_values"]  # resized (only if needed) and normalised
        n, c, h, w = x.shape
        p, m, t = self.patch, self.merge, self.temporal
        gh, gw = h // p, w // p
        x = x.reshape(n, c, gh // m, m, p, gw // m, m, p).permute(0, 2, 5, 3, 6, 4, 7, 1)  # n, H, W, mh, mw, ph, pw, c
        x = x.unsqueeze(-1).expand(*x.shape, t)
        grid_thw = torch.tensor([[1, gh, gw]], dtype=torch.long, device=x.device).expand(n, 3)
        return {"pixel_values": x.reshape(n * gh * gw, p * p * c * t), "image_grid_thw": grid_thw}

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        saved = self.processor.return_mm_token_type_ids
        self.processor.return_mm_token_type_ids = True  # off by default for this processor, required by the model
        try:
            return super().image_prompt(prompt_format)
        finally:
            self.processor.return_mm_token_type_ids = saved
