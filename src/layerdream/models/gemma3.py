"""Gemma 3 (``Gemma3ForConditionalGeneration``): only what differs from the default adapter.

* ``token_type_ids`` must reach the forward: they switch on bidirectional attention inside the image
  block; without them the block is silently causal (notes section 2, transformers #39389).
* The projector average-pools the SigLIP patch grid to ``mm_tokens_per_image`` tokens: a square
  grid (16x16 for the 4B model), row-major.
* Pan-and-scan stays off: a square synthetic image never triggers it anyway.
* ShieldGemma 2 (``shieldgemma2``) is Gemma 3 4B under its own config type, which transformers loads
  as ``Gemma3ForConditionalGeneration``: the same adapter serves it.
"""
from __future__ import annotations

import math

from .adapter import FamilyAdapter


class Gemma3Adapter(FamilyAdapter):
    model_types = ("gemma3", "shieldgemma2")
    extra_input_names = ("token_type_ids",)

    def image_placeholder(self) -> str:
        return self.processor.boi_token  # Gemma 3's processor expands <start_of_image> into the block

    @property
    def grid(self) -> tuple[int, int]:
        side = math.isqrt(self.model.config.mm_tokens_per_image)
        return side, side
