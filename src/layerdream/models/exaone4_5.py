"""EXAONE 4.5 (``Exaone4_5_ForConditionalGeneration``): Qwen2.5-VL's vision path with 1-D text positions.

* **Pixels and geometry as Qwen2.5-VL** (``qwen2_5_vl.py``): the ``Qwen2VLImageProcessor`` patchifies
  (patch 14, 2x2 merge windows, temporal patch 2, flattened ``pixel_values`` + ``image_grid_thw``) and its
  ``smart_resize`` leaves the fixed 16 x 16-token square (448 px) alone; the windowed ViT with 2-D
  rotary positions and the merger are EXAONE's own copy of Qwen2.5-VL's.
* **No M-RoPE.** The EXAONE 4 text model gives every token, image tokens included, plain 1-D positions:
  there is no ``get_rope_index`` and no ``mm_token_type_ids``, so the prompt and the forward are the
  default adapter's (the processor's ids and mask repeated, plus the pixels and ``image_grid_thw``).
"""
from __future__ import annotations

import torch

from .adapter import FamilyAdapter
from .qwen2_5_vl import Qwen2_5_VLAdapter


class Exaone4_5Adapter(Qwen2_5_VLAdapter):
    model_types = ("exaone4_5",)
    reusable_masks = True

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        return FamilyAdapter.image_prompt(self, prompt_format)

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        return FamilyAdapter.forward_inputs(self, prompt, pixels, n)
