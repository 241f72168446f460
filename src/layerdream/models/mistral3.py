"""Mistral 3 (``Mistral3ForConditionalGeneration``: Mistral Small 3.1 / 3.2, Pixtral vision): only what
differs from the default adapter.

* **Native resolution fixed.** The Pixtral image processor keeps an image's aspect ratio, shrinks it
  to fit ``size["longest_edge"]`` (1540 px on Mistral Small 3.1) and rounds each side up to a multiple
  of the patch, so the token count follows the image. layerdream fixes a square of ``TOKENS_PER_SIDE``
  x ``TOKENS_PER_SIDE`` = 16 x 16 merged tokens: 448 px at patch 14 and ``spatial_merge_size`` 2
  (moved down to fit ``longest_edge`` when a checkpoint's is smaller). A square whose side is a
  multiple of patch x merge and within ``longest_edge`` passes the processor unresized, so our pixels
  equal the processor's. ``image_sizes`` = (S, S) per image tells the tower where each image ends.
* **``[IMG_BREAK]`` after each row, ``[IMG_END]`` at the end.** The prompt holds a row of ``[IMG]``
  tokens per token row, each followed by ``[IMG_BREAK]``, the last by ``[IMG_END]``. The model scatters
  the image features into the ``[IMG]`` positions only (``config.image_token_id``), row-major (the patch
  merger folds 2 x 2 windows with ``unfold``, which walks the windows row-major): the grid is those
  tokens, side x side; the break tokens are ordinary text tokens between the rows (in the prompt, out of
  the aggregate).
* **One sequence for a batch.** Pixtral's tower concatenates the patches of all images of a batch and
  attends within each image through a block-diagonal mask (2-D RoPE per image), so images never mix;
  but the mask is over the whole batch: the memory model's per-image ViT term does not include it
  (docs/families/mistral3.md).
* The processor's chat template is given to the tokenizer (``processors.share_chat_template``).
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, channel_stats
from .processors import share_chat_template

#: tokens per side of the fixed square (16 x 16 = 256, as Gemma 3 and Qwen2.5-VL)
TOKENS_PER_SIDE = 16


def _side(value) -> int:
    if isinstance(value, (int, float)):
        return int(value)
    get = value.get if hasattr(value, "get") else lambda key: getattr(value, key, None)
    return int(get("height") or get("longest_edge"))


class Mistral3Adapter(FamilyAdapter):
    model_types = ("mistral3", "lighton_ocr")

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        share_chat_template(processor)
        ip = processor.image_processor
        config = model.config
        patch, merge = int(config.vision_config.patch_size), int(config.spatial_merge_size)
        if _side(ip.patch_size) != patch:
            raise UserError(f"this Mistral 3 processor cuts {_side(ip.patch_size)}-px patches but the vision tower takes "
                            f"{patch} px; use the processor saved with the model")
        unit = patch * merge
        longest = int(ip.size.get("longest_edge") if hasattr(ip.size, "get") else ip.size.longest_edge)
        self.side = min(TOKENS_PER_SIDE, longest // unit)
        if self.side < 1:
            raise UserError(f"this Mistral 3 processor's longest_edge ({longest} px) is below one {unit}-px token")
        self.image_size = self.side * unit
        self.mean, self.std = channel_stats(ip)

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = FamilyAdapter.preprocess(self, images)["pixel_values"]  # the square, normalised
        sizes = torch.tensor([[self.image_size, self.image_size]], device=images.device).expand(images.shape[0], -1)
        return {"pixel_values": pixels, "image_sizes": sizes}
