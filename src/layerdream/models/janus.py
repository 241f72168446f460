"""Janus / Janus-Pro (``JanusForConditionalGeneration``), understanding path: only what differs from the
default adapter.

* **Two image paths; layerdream uses the understanding one.** For image *input* the model runs a
  SigLIP-L tower (384 px, patch 16: 24 x 24 = 576 patches) and an MLP aligner, and scatters the 576
  features into the ``<image_placeholder>`` positions: differentiable in the pixels, row-major, no
  pooling, so the grid is ``image_size // patch_size`` squared. The VQ-VAE (``vqmodel``, discrete codes)
  serves image *generation* only and never runs on an input image.
* **Square input, no padding.** The processor shrinks the longest side to 384 and pads to a square with
  the image mean's colour; a 384-px square passes both steps unchanged, so our pixels equal the
  processor's.
* **Prompt.** ``<begin_of_image>`` + ``<image_placeholder>`` x 576 + ``<end_of_image>``; the processor's
  optional default system prompt stays off (``use_default_system_prompt`` False by default); the
  processor's chat template is given to the tokenizer.
"""
from __future__ import annotations

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims
from .processors import share_chat_template


class JanusAdapter(FamilyAdapter):
    model_types = ("janus",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        vision = model.config.vision_config
        if self.image_size != int(vision.image_size):
            raise UserError(f"this Janus processor gives {self.image_size}-px images but its vision tower takes "
                            f"{vision.image_size} px; use the processor saved with the model")
        self._side = int(vision.image_size) // int(vision.patch_size)
        if processor.num_image_tokens != self._side**2:
            raise UserError(f"this Janus processor writes {processor.num_image_tokens} image tokens but the tower makes "
                            f"{self._side**2}; use the processor saved with the model")

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def vision_dims(self) -> VisionDims:
        """The tower's MLP is ``mlp_ratio`` x its width (no ``intermediate_size`` in Janus's vision config)."""
        vision = self.model.config.vision_config
        width = int(vision.hidden_size)
        return VisionDims(tokens=self._side**2, width=width, mlp=int(width * vision.mlp_ratio),
                          layers=int(vision.num_hidden_layers), heads=int(vision.num_attention_heads))
