"""Inkling (``InklingForConditionalGeneration``, ``model_type`` ``inkling_mm_model``): only what differs from the
default adapter.

* **Encoder-free, one token per patch.** ``InklingVisionModel`` is a hierarchical MLP applied to each patch on its
  own (``temporal_patch_size`` frames x p x p x 3, folded space-to-depth and projected, layer after layer): no
  attention across patches, so token (r, c) depends on patch (r, c) only.
* **Native resolution, and the extra column.** The processor does not resize by default (``rescale_image_frac``
  None): it cuts the picture into p-px patches, ``ceil(h / p)`` rows and ``w // p + 1`` columns, padding partial
  patches with -1.0 before rescale + normalise. For a width that p divides, the last column is pure padding: a
  constant token closing every row (like LLaVA-NeXT's newline). layerdream fixes a square of 16 x 16 patches
  (640 px at the released p = 40; ``TOKENS_PER_SIDE``): grid (16, 17) in sequence order, the padding column
  last. :meth:`preprocess` pads the normalised image on the right with the normalised -1.0 and cuts the patches
  row-major as (N, T, p, p, C), each still image repeated over the T frames.
* The image processor's ``size`` is the patch, not the image: the input size is set here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .adapter import FamilyAdapter, VisionDims, resize_to
from .processors import share_chat_template
from .qwen2_5_vl import TOKENS_PER_SIDE


class InklingAdapter(FamilyAdapter):
    model_types = ("inkling_mm_model",)

    def __init__(self, model, processor):
        super().__init__(model, processor)  # reads the patch as ``image_size``: replaced below
        share_chat_template(processor)
        self.patch = self.image_size
        self.temporal = int(model.config.vision_config.temporal_patch_size)
        self.side = TOKENS_PER_SIDE
        self.image_size = self.side * self.patch
        self._fill = float(getattr(processor.image_processor, "rescale_factor", 1 / 255)) * -1.0

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side + 1  # the last column is the processor's all-padding patch

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = resize_to(images, self.image_size)
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        p, t = self.patch, self.temporal
        x = F.pad(x, (0, p), value=self._fill)  # -1.0 on the 0..255 scale, as the processor pads
        x = (x - mean) / std
        n, c, h, w = x.shape
        rows, cols = h // p, w // p
        patches = x.reshape(n, c, rows, p, cols, p).permute(0, 2, 4, 3, 5, 1)  # n, rows, cols, ph, pw, c
        patches = patches.unsqueeze(3).expand(n, rows, cols, t, p, p, c)
        return {"pixel_values": patches.reshape(n * rows * cols, t, p, p, c)}

    def vision_dims(self) -> VisionDims:
        """The per-patch MLP as a one-block 'tower' over every patch (no attention across patches)."""
        text = self.model.config.text_config
        rows, cols = self.grid
        return VisionDims(tokens=rows * cols, width=int(text.hidden_size), mlp=int(text.hidden_size), layers=1, heads=1)
