"""FastVLM (``FastVlmForConditionalGeneration``: apple FastVLM-0.5B / 1.5B / 7B, converted as KamilaMila/FastVLM-*):
only what differs from the default adapter.

* **A hybrid convolutional tower, no patches.** The tower is timm's FastViTHD (``fastvit_mci3``, a
  ``TimmWrapperModel``; the real class needs timm): a stem (/4), four downsampling stages (/64 in all; the last
  two attention stages), a final 3 x 3 MobileOne conv. Its last feature map, (C, S/64, S/64), is flattened
  row-major into the image tokens and goes through a 2-layer MLP: **16 x 16 = 256 tokens at 1024 px**, no CLS
  (``vision_feature_select_strategy`` "full", ``vision_feature_layer`` -1 are the only ones the config accepts).
* **Input size from the crop.** The processor is a ``LlavaProcessor`` with a CLIP image processor (shortest edge
  1024, centre crop 1024, mean 0 / std 1): a square of the crop's size passes unchanged, so that is the fixed
  input; the processor counts ``(S / patch_size)^2`` tokens with ``patch_size`` 64, the tower's total stride: a
  processor whose ``patch_size`` is not the tower's reduction is refused on load.
* **Template.** The converter's ChatML template (a default system turn, images before the text), on the tokenizer
  and the processor; the tokenizer is given the processor's (``share_chat_template``). Qwen2's tokenizer has no BOS.
* **Memory model.** The tower is not a ViT: :meth:`vision_dims` states it as blocks of the first stage's size
  (positions x channels at /4), as many as make the same total activations over all stages (an upper bound
  for the attention stages, whose maps are small).
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims
from .llava import crop_size
from .processors import share_chat_template


class FastVlmAdapter(FamilyAdapter):
    model_types = ("fast_vlm",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        self.image_size = crop_size(processor.image_processor) or self.image_size
        tower = model.model.vision_tower.timm_model
        self.stride = int(tower.feature_info[-1]["reduction"])
        patch = getattr(processor, "patch_size", None)
        if patch is None or int(patch) != self.stride:
            raise UserError(f"this FastVLM processor counts {patch}-px patches but the vision tower reduces by "
                            f"{self.stride}; use the processor saved with the model")
        if self.image_size % self.stride:
            raise UserError(f"this FastVLM processor's {self.image_size}-px images are not a multiple of the tower's "
                            f"stride {self.stride}")
        if int(getattr(processor, "num_additional_image_tokens", 0) or 0):
            raise UserError("this FastVLM processor adds image tokens the tower does not make "
                            "(num_additional_image_tokens); use the processor saved with the model")
        self.side = self.image_size // self.stride

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def vision_dims(self) -> VisionDims:
        tower = self.model.model.vision_tower.timm_model
        stages = [(len(stage.blocks), info["num_chs"], (self.image_size // info["reduction"]) ** 2)
                  for stage, info in zip(tower.stages, tower.feature_info)]
        _, width, tokens = stages[0]
        total = sum(blocks * chs * n for blocks, chs, n in stages)
        return VisionDims(tokens=tokens, width=int(width), mlp=4 * int(width),
                          layers=max(1, math.ceil(total / (width * tokens))), heads=1)
