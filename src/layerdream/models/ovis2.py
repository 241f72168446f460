"""Ovis2 (``Ovis2ForConditionalGeneration``): only what differs from the default adapter.

* **Probabilistic visual tokens.** The ViT's head gives each token a distribution over a visual
  vocabulary and the image token is that distribution times a visual embedding table: differentiable
  in the pixels with the default ``tokenize_function`` ("softmax"). A checkpoint saved with
  "st_argmax" / "gumbel_argmax" makes the forward piecewise constant (gradients only through a
  straight-through estimator): layerdream refuses it in one line.
* **Geometry.** ``crop_to_patches`` is off by default: one square of the processor's ``size``, ``image_seq_length`` image tokens (``<IMG_ATOM>``, the config's
  ``image_token_id``) between ``<IMG_START>`` and ``<IMG_GRID>``/``<IMG_END>`` indicator tokens (fixed
  table rows, no pixel reaches them). The tower's ``hidden_stride`` folds patches row-major.
"""
from __future__ import annotations

import math

from ..errors import UserError
from .adapter import FamilyAdapter
from .processors import share_chat_template


class Ovis2Adapter(FamilyAdapter):
    model_types = ("ovis2",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        how = getattr(model.config.vision_config, "tokenize_function", "softmax")
        if how != "softmax":
            raise UserError(f"this Ovis2 checkpoint turns visual tokens into one-hot rows (tokenize_function={how!r}): "
                            "the forward is piecewise constant in the pixels; layerdream needs tokenize_function='softmax'")

    @property
    def grid(self) -> tuple[int, int]:
        side = math.isqrt(int(self.processor.image_seq_length))
        return side, side
