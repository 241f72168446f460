"""InternVL 3 / 3.5 ``-hf`` (``InternVLForConditionalGeneration``): only what differs from the default.

* **Dynamic tiling is fixed to one tile.** InternVL's processor cuts an image into up to 12 tiles of
  448 px plus a thumbnail, by aspect ratio (and the processor turns ``crop_to_patches`` on by default).
  layerdream synthesises one square image at exactly the tile size, which the tiler maps to a single
  1x1 tile with no thumbnail, so the image is one tile: 256 image tokens at 448/14 px. The adapter
  asks the processor's own tiler how many tiles such an image makes (a checkpoint whose tiler would
  split it, ``min_patches`` > 1, fails on load with one line instead of optimising another geometry);
  any other input size is resized to the tile, which is what the processor does for one tile.
* **Pixel shuffle + MLP projector.** The vision tower's patch grid (CLS dropped, the ``default``
  select strategy) is pixel-shuffled by ``downsample_ratio`` 0.5: 32x32 patches -> 16x16 tokens of
  4x the width, then an MLP. The shuffle keeps row-major order (row pairs and column pairs merge into
  one token each), so the grid is (side, side) with side = patches x ratio, read from the config.
* **Mean/std from the checkpoint** (ImageNet's for InternVL, not CLIP's), through the default reader;
  the tower's ``image_size``/``patch_size`` are pairs in its config, hence :meth:`vision_dims`.
* **No BOS.** InternVL's language models (Qwen2.5 for 3, Qwen3 for 3.5) have no BOS token: the chat
  prompt is ``<|im_start|>user\\n<img>`` + 256 ``<IMG_CONTEXT>`` + ``</img>\\n<|im_end|>...`` and
  the raw prompt the placeholder alone, exactly what the processor and tokenizer produce.
* **One template for both sides.** Text prompts go through the tokenizer, which is given the
  processor's template in case its own is Qwen's (``processors.share_chat_template``).
"""
from __future__ import annotations

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims
from .processors import share_chat_template


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else (int(value[0]), int(value[1]))


class InternVLAdapter(FamilyAdapter):
    model_types = ("internvl",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)  # text prompts use the template the image prompt uses
        config = model.config
        vision = config.vision_config
        (tower_h, tower_w), (patch_h, patch_w) = _pair(vision.image_size), _pair(vision.patch_size)
        ratio = float(config.downsample_ratio)
        self._side = int(tower_h // patch_h * ratio)
        if tower_h != tower_w or patch_h != patch_w or self._side * patch_h / ratio != tower_h:
            raise UserError(f"InternVL checkpoint with a non-square tile ({tower_h}x{tower_w} px, patch {patch_h}x{patch_w}, "
                            f"downsample {ratio}); layerdream supports square tiles only")
        tokens = getattr(processor, "image_seq_length", self._side**2)
        if self.image_size != tower_h or tokens != self._side**2:
            raise UserError(f"this InternVL checkpoint's processor ({self.image_size} px tiles, {tokens} tokens per tile) "
                            f"does not match its vision tower ({tower_h} px, {self._side**2} tokens); use the processor "
                            "saved with the model")
        tiles = self._tiles_for_one_square_image()
        if tiles != 1:
            raise UserError(f"this InternVL processor tiles a square {self.image_size}-px image into {tiles} tiles "
                            "(min_patches > 1?); layerdream optimises one tile: set min_patches to 1 in its preprocessor config")

    def _tiles_for_one_square_image(self) -> int:
        """How many tiles the processor's own tiler (with its defaults: ``crop_to_patches`` on) makes of
        a square image at the tile size, i.e. of every prompt image layerdream builds."""
        counter = getattr(self.processor, "_get_num_multimodal_tokens", None)
        if counter is None:
            return 1
        data = counter(image_sizes=[(self.image_size, self.image_size)])
        return int(getattr(data, "num_image_patches", [1])[0])

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        patch = _pair(vision.patch_size)[0]
        return VisionDims(tokens=(self.image_size // patch) ** 2 + 1, width=int(vision.hidden_size),  # + CLS
                          mlp=int(vision.intermediate_size), layers=int(vision.num_hidden_layers),
                          heads=int(vision.num_attention_heads))
