"""Granite-Docling (``GraniteDoclingForConditionalGeneration``): only what differs from the default adapter.

* **One tile, fixed.** The processor tiles a page into ``size`` squares (512 px, up to ``max_patches``)
  plus a thumbnail when there are several. A picture of one tile's size is one tile and no thumbnail
  (``crop_to_patches`` stays at its default): the prompt is ``<fake_token_around_image><row_1_col_1>``
  + the tile's tokens + ``\\n``. layerdream fixes that geometry: the tile's side, ``image_seq_len``
  tokens (64 on the released model: 32 x 32 patches folded 4 x 4 by the pixel shuffle, row-major).
* **5-D pixels** (batch, tiles, 3, S, S) with ``pixel_attention_mask`` (batch, tiles) marking real
  tiles: one real tile per prompt here. The coarse connector path only (``tile_fine_mask`` is what the
  processor returns with ``fine_route=True``, off by default).
* **DeepStack.** Features of chosen ViT layers are added to the image tokens after the first text
  blocks, as in Qwen3-VL: layer l is read after the injection and each result says so
  (``qwen3_vl.DeepStackReading``; docs/families/qwen3_vl.md).
* One template on both sides (``processors.share_chat_template``).
"""
from __future__ import annotations

import math

import torch

from .adapter import FamilyAdapter
from .processors import share_chat_template
from .qwen3_vl import DeepStackReading


class GraniteDoclingAdapter(DeepStackReading, FamilyAdapter):
    model_types = ("granite_docling",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        self.install_deepstack(model)

    @property
    def grid(self) -> tuple[int, int]:
        side = math.isqrt(int(self.processor.image_seq_len))
        return side, side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = super().preprocess(images)["pixel_values"]
        mask = torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device)
        return {"pixel_values": x.unsqueeze(1), "pixel_attention_mask": mask}
