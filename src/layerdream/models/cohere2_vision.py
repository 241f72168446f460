"""Command A Vision (``Cohere2VisionForConditionalGeneration``): only what differs from the default adapter.

* **Tiling fixed to one tile.** ``Cohere2VisionImageProcessor`` (``crop_to_patches`` on by default) cuts an
  image into up to ``max_patches`` 512-px tiles by aspect ratio (``get_optimal_tiled_canvas``: the canvas
  needing the least upscaling, the smallest such on ties), plus a thumbnail when there is more than one.
  A square at exactly the tile size needs scale 1 on the 1x1 canvas, the smallest: one tile, no thumbnail,
  not resampled. layerdream feeds that: **512 px, SigLIP2 patch 16 (32 x 32), pixel shuffle 2: 16 x 16 = 256
  tokens**. The adapter asks the image processor's own ``get_number_of_image_patches`` how many tiles such
  a square makes and refuses a processor that would split it (none in 5.24 does: the source's tiler never
  reads ``min_patches``, so the 1x1 canvas always wins at scale 1; the check guards a future tiler).
* **Token layout.** ``<|START_OF_IMG|>`` + ``<|IMG_PATCH|>`` x 256 + ``<|IMG_LINE_BREAK|>`` (one per tile) +
  ``<|END_OF_IMG|>``; ``config.image_token_id`` is the patch token, so the default positions are the grid.
* **Pixel shuffle keeps row-major order.** The projector folds column pairs, then row pairs, and permutes
  back: token (i, j) of the 16 x 16 grid holds patches (2i..2i+1, 2j..2j+1), row-major in the sequence;
  then a SwiGLU MLP. The processor's ``patch_size`` (16) is the tokens per tile side, checked against the
  tower (``image_size // patch_size // downsample_factor``).
* The processor's chat template is given to the tokenizer (``processors.share_chat_template``).
"""
from __future__ import annotations

from ..errors import UserError
from .adapter import FamilyAdapter
from .processors import share_chat_template


class Cohere2VisionAdapter(FamilyAdapter):
    model_types = ("cohere2_vision",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        config = model.config
        vision = config.vision_config
        tower, patch, factor = int(vision.image_size), int(vision.patch_size), int(config.downsample_factor)
        if tower % patch or (tower // patch) % factor:
            raise UserError(f"a Command A Vision tower of {tower} px in {patch}-px patches cannot be pixel-shuffled by {factor}")
        self._side = tower // patch // factor
        per_side = int(processor.patch_size)
        if self.image_size != tower or per_side != self._side:
            raise UserError(f"this Command A Vision checkpoint's processor ({self.image_size}-px tiles, {per_side}x{per_side} "
                            f"tokens per tile) does not match its vision tower ({tower} px, {self._side}x{self._side} "
                            "tokens); use the processor saved with the model")
        tiles = int(processor.image_processor.get_number_of_image_patches(self.image_size, self.image_size, {}))
        if tiles != 1:
            raise UserError(f"this Command A Vision processor tiles a square {self.image_size}-px image into {tiles} tiles "
                            "; layerdream optimises one tile: set crop_to_patches to false in its preprocessor config")

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side
