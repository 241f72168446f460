"""LLaVA-1.5 (``LlavaForConditionalGeneration``): only what differs from the default adapter.

* **CLIP-L/336, one image, 576 tokens.** The tower's patch grid (336/14 = 24x24) enters the language
  model row-major through a 2-layer MLP: no pooling, so the grid is ``image_size // patch_size``
  squared, read from the vision config (not from the processor, which may resize to another size).
* **``vision_feature_layer`` -2, CLS dropped.** The features come from the penultimate CLIP layer and
  the ``default`` select strategy drops CLS, so there are exactly rows x cols image tokens. With the
  ``full`` strategy (some derivatives) CLS enters the sequence as the first image token: it is not a
  place in the image, so it is left out of the grid and the objective (``image_positions``).
  Nothing here reads the layer: the model applies it; the memory model counts the whole tower.
* **Input size from the crop.** CLIP's processor resizes the shortest edge, then centre-crops to
  ``crop_size``: the image the tower sees is the crop, so that is the input size; it must equal the
  tower's ``image_size``. A square image at that size passes the processor unchanged.
* **The chat template lives in the processor.** ``llava-hf`` repos ship it as the processor's
  ``chat_template.json`` only, which the tokenizer does not read, so the text side would silently fall
  back to raw prompts while the image side used the template (and a tokenizer that has a template of
  its own has the base LM's, not this one). The tokenizer is given the processor's template
  (``processors.share_chat_template``), so both sides use the same one. It renders only list content
  (``concepts.render`` retries a string as a text item).
* **BOS from the tokenizer, not the template.** The template has no ``<s>``; the processor's
  tokenisation adds it (Llama's tokenizer adds BOS), so the image prompt has exactly one.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter
from .processors import share_chat_template


def crop_size(image_processor) -> int | None:
    """The side of the square the CLIP-style processor centre-crops to (None without a crop)."""
    if not getattr(image_processor, "do_center_crop", False):
        return None
    crop = getattr(image_processor, "crop_size", None)
    if crop is None:
        return None
    get = crop.get if hasattr(crop, "get") else lambda key: getattr(crop, key, None)
    height, width = get("height"), get("width")
    if height != width:
        raise UserError(f"this LLaVA processor crops to a non-square {height}x{width}; layerdream needs a square input")
    return int(height)


class LlavaAdapter(FamilyAdapter):
    model_types = ("llava",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        vision = model.config.vision_config
        self.image_size = crop_size(processor.image_processor) or self.image_size
        if self.image_size != int(vision.image_size):
            raise UserError(f"this LLaVA checkpoint's processor gives {self.image_size}-px images but its vision tower "
                            f"takes {vision.image_size} px; use the processor saved with the model")
        self._side = int(vision.image_size) // int(vision.patch_size)
        strategy = getattr(model.config, "vision_feature_select_strategy", "default")
        self._cls_in_sequence = int(strategy == "full" and "clip" in getattr(vision, "model_type", ""))

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        if not self._cls_in_sequence:
            return super().image_positions(input_ids)
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        expected = self._side**2 + 1
        if positions.numel() != expected:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {expected} (CLS + grid)")
        return positions[1:]  # CLS first, then the patch grid row-major
