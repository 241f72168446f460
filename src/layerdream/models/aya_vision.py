"""Aya Vision (``AyaVisionForConditionalGeneration``): only what differs from the default adapter.

* **Tiling fixed to one tile.** The processor turns ``crop_to_patches`` on and cuts an image into up
  to ``max_patches`` 364-px tiles by aspect ratio, plus a global thumbnail when there is more than one.
  A square image at exactly the tile size is one 1x1 tile with no thumbnail (the tiler's tie-break
  only adds tiles for images larger than half their area), so layerdream feeds that: 169 image tokens
  at 364 px / patch 14 / pixel-shuffle 2. The adapter asks the processor's own tiler how many tiles
  such an image makes and refuses a checkpoint whose tiler would split it (``min_patches`` > 1).
* **Token layout.** ``<|START_OF_IMG|>`` ``TILE_GLOBAL`` + ``<|IMG_PATCH|>`` x 169 + ``<|END_OF_IMG|>``;
  ``config.image_token_id`` is ``<|IMG_PATCH|>``, so the default positions are the grid.
* **SigLIP, all tokens** (``vision_feature_select_strategy`` ``full``, no CLS), then a pixel shuffle
  by ``downsample_factor`` that keeps row-major order (rows and columns fold pairwise), a LayerNorm and
  a SwiGLU MLP: the grid is ``(tile // patch) // downsample_factor`` squared.
* The processor's chat template is given to the tokenizer (``processors.share_chat_template``).
"""
from __future__ import annotations

from ..errors import UserError
from .adapter import FamilyAdapter
from .internvl import InternVLAdapter
from .processors import share_chat_template


class AyaVisionAdapter(FamilyAdapter):
    model_types = ("aya_vision",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        config = model.config
        vision = config.vision_config
        tower, patch, factor = int(vision.image_size), int(vision.patch_size), int(config.downsample_factor)
        if tower % patch or (tower // patch) % factor:
            raise UserError(f"an Aya Vision tower of {tower} px in {patch}-px patches cannot be pixel-shuffled by {factor}")
        self._side = tower // patch // factor
        tokens = (int(processor.img_size) // int(processor.patch_size)) ** 2
        if self.image_size != tower or tokens != self._side**2:
            raise UserError(f"this Aya Vision checkpoint's processor ({self.image_size}-px tiles, {tokens} tokens per tile) "
                            f"does not match its vision tower ({tower} px, {self._side**2} tokens); use the processor saved "
                            "with the model")
        tiles = InternVLAdapter._tiles_for_one_square_image(self)  # the processor's own tiler, as for InternVL
        if tiles != 1:
            raise UserError(f"this Aya Vision processor tiles a square {self.image_size}-px image into {tiles} tiles "
                            "(min_patches > 1?); layerdream optimises one tile: set min_patches to 1 in its preprocessor config")

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side
