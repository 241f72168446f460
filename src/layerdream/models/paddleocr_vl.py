"""PaddleOCR-VL (``PaddleOCRVLForConditionalGeneration``): Qwen2.5-VL's adapter with its own patch order.

What holds from ``qwen2_5_vl.py``: native resolution fixed to a 16 x 16-token square (448 px for patch
14 / merge 2, inside the checkpoint's pixel bounds, where ``smart_resize`` is the identity), flattened
patches with ``image_grid_thw``, explicit 3-D M-RoPE ``position_ids`` from the model's own
``get_rope_index`` (with ``mm_token_type_ids``), the processor's template on both sides.

What differs:

* **Patch order.** The processor lists patches row-major over the whole image, each as (3, p, p) (no
  temporal copy: ``temporal_patch_size`` is 1), and the projector folds each 2 x 2 block itself, block
  rows first: the image tokens are still row-major over the 16 x 16 merged grid.
* **Tower.** A NaViT-style SigLIP with learned position embeddings interpolated to the patch grid and a
  plain MLP: the memory model's generic ViT block (``vision_block_terms`` = (1, 6); not measured here).
"""
from __future__ import annotations

import torch

from .qwen2_5_vl import Qwen2_5_VLAdapter, row_major_patches


class PaddleOCRVLAdapter(Qwen2_5_VLAdapter):
    model_types = ("paddleocr_vl",)
    vision_block_terms = (1, 6)

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        patches, grid_thw = row_major_patches(self, images)
        return {"pixel_values": patches, "image_grid_thw": grid_thw}

    def image_placeholder(self) -> str:
        return "<|IMAGE_START|>" + self.processor.image_token + "<|IMAGE_END|>"
