"""Idefics2 (``Idefics2ForConditionalGeneration``): Idefics3's adapter, with a perceiver resampler
instead of a pixel shuffle. Only what differs from ``idefics3.py``:

* **One image, no splitting, at the processor's shortest edge.** The processor resizes an image so
  that its longest edge is at most ``size["longest_edge"]`` (980) and each edge at least
  ``size["shortest_edge"]`` (378): a square with a side in between passes unchanged. layerdream fixes
  the square at the shortest edge (378 px, 27 x 27 patches of 14 px), where no resize happens, so our
  pixels equal the processor's. ``do_image_splitting`` (off by the processor's default, on in some
  released processors: 4 crops + the image) is switched off for the prompt, so one image gives
  ``<fake_token_around_image>`` + ``<image>`` x 64 + ``<fake_token_around_image>``. Upstream quirk
  (transformers 5.24): ``Idefics2Processor`` expands the text by the image processor's
  *attribute* ``do_image_splitting`` and ignores a per-call ``do_image_splitting=False`` (which the
  pixels do honour), so the prompt would hold 5 x 64 image tokens for one image; the attribute is
  switched off while the prompt is built.
* **Learned queries, no spatial grid.** The connector's perceiver resampler turns the patch features
  into ``resampler_n_latents`` (64) latents by cross-attention: no latent is a place in the image. The
  rule layerdream follows: the spatial prior is **flat** (every image token weighs alike in the
  softmax aggregate; ``spatial_layout = False``), ``grid`` is only the count as rows x cols (8 x 8,
  which sizes the ``paper`` preset's sigma schedule, unused here), and every result records it.
* **No resize round trip.** Idefics3's processor enlarges to ``longest_edge`` and shrinks back to the
  tile (reproduced in ``Idefics3Adapter.resized``); Idefics2's leaves the 378-px square alone, so
  :meth:`resized` only brings our canvas to the fixed size.
* As Idefics3 (inherited): 5-D ``pixel_values``; an image that normalises to exact zeros (uniform
  0.5 gray under mean = std = 0.5) would be dropped as padding, so it is lifted by ``GRAY_LIFT``;
  the processor's template is given to the tokenizer.
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, resize_to
from .idefics3 import Idefics3Adapter
from .processors import share_chat_template


class Idefics2Adapter(Idefics3Adapter):
    model_types = ("idefics2",)
    spatial_layout = False

    def __init__(self, model, processor):
        FamilyAdapter.__init__(self, model, processor)  # image_size = size["shortest_edge"], mean/std
        share_chat_template(processor)
        patch = int(model.config.vision_config.patch_size)
        if self.image_size % patch:
            raise UserError(f"this Idefics2 processor's shortest edge ({self.image_size} px) is not a multiple of the "
                            f"{patch}-px patch; use the processor saved with the model")
        latents = int(model.config.perceiver_config.resampler_n_latents)
        rows = math.isqrt(latents)
        while latents % rows:
            rows -= 1
        self._rows, self._cols = rows, latents // rows

    @property
    def grid(self) -> tuple[int, int]:
        return self._rows, self._cols

    def resized(self, images: torch.Tensor) -> torch.Tensor:
        """The processor leaves a square between its shortest and longest edge as it is (no Idefics3-style
        round trip through ``longest_edge``): only our canvas is brought to the fixed size."""
        return resize_to(images, self.image_size)

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        ip = self.processor.image_processor
        saved = ip.do_image_splitting
        ip.do_image_splitting = False  # the processor reads the attribute, not the call's kwarg
        try:
            return super().image_prompt(prompt_format)
        finally:
            ip.do_image_splitting = saved

    def result_notes(self, layer: int) -> dict:
        return {"spatial_prior": "flat: the image tokens are perceiver-resampler latents (learned queries), not places"}
