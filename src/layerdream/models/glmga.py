"""GLM-GA (``model_type`` ``glmga``, loaded as ``Glm46VForConditionalGeneration`` with ``Glm46VProcessor``): the
GLM-4V adapter (``glm4v.py``: 16 x 16 tokens, 448 px, explicit 3-D positions). Only what differs:

* **``patch_expand_factor``.** GLM-GA's image processor rounds the resized side to a multiple of
  patch x merge x ``patch_expand_factor`` (its torchvision class, what users with torchvision get); the
  PIL twin ignores the factor (transformers 5.24). The default (1) changes nothing; for another factor the
  square is checked on load with the torchvision class's arithmetic (its own ``smart_resize`` and factor),
  and a square it would resize is refused in one line.
"""
from __future__ import annotations

from ..errors import UserError
from .glm4v import Glm4vAdapter


class GlmgaAdapter(Glm4vAdapter):
    model_types = ("glmga",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        from transformers.models.glmga.image_processing_pil_glmga import smart_resize

        ip = processor.image_processor
        expand = int(getattr(ip, "patch_expand_factor", 1) or 1)
        if expand == 1:
            return
        size = ip.size
        get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
        factor = self.patch * self.merge * expand
        out = smart_resize(self.temporal, self.image_size, self.image_size, temporal_factor=self.temporal, factor=factor,
                           min_pixels=get("shortest_edge"), max_pixels=get("longest_edge"))
        if tuple(out) != (self.image_size, self.image_size):
            raise UserError(f"this GLM-GA processor (patch_expand_factor={expand}) resizes a {self.image_size}-px square to "
                            f"{out[0]}x{out[1]}: its sides are multiples of {factor} px; layerdream fixes one square of "
                            f"{self.side}x{self.side} tokens and needs a factor that divides {self.image_size}")
