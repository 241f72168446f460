"""Kosmos-2.5 (``Kosmos2_5ForConditionalGeneration``): Kosmos-2's adapter with Pix2Struct-style pixels.

* **Flattened patches, one fixed geometry.** The image processor normalises each picture by its own mean
  and standard deviation (no fixed mean/std, no rescale: the 0-255 values, the std floored at
  ``1/sqrt(3 H W)``), resizes it so that ``max_patches`` patches fit, and flattens each ``p x p`` patch
  as (row, col, channel) after its 1-based row and column ids. With ``max_patches`` = 4096 (the image
  processor's and the processor's default) a square picture of any size becomes 64 x 64 patches at
  ``64 p`` px (1024 px with the released 16-px patches); layerdream feeds that square, where the
  processor's resize is the identity, and :meth:`preprocess` is the same arithmetic, differentiable.
  The adapter fixes ``max_patches`` to the image processor's own (saved) value and passes it on each call.
* **Latent queries as the image tokens.** The tower's patch features (L2-normalised) are read by
  ``latent_query_num`` (2048) learned queries; their outputs replace the embeddings at the positions that
  ``image_embeds_position_mask`` marks (1), between ``<image>`` and ``</image>`` (-1: in the image
  segment, not replaced). As for Kosmos-2 the spatial prior is **flat**, recorded in each result, and the
  grid (32 x 64) is only the count.
* **The image placeholder is the BOS id.** The processor writes ``<s><image>`` + 2048 x ``<s>`` +
  ``</image>``: the positions come only from ``image_embeds_position_mask`` (Kosmos-2's handling).
* No chat template: prompts are raw, as for Kosmos-2 (its task prompts ``<ocr>`` / ``<md>`` are not used).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import UserError
from .adapter import VisionDims
from .kosmos2 import Kosmos2Adapter


class Kosmos2_5Backbone(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.kosmos2_5 = model

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, image_embeds_position_mask=None, **kwargs):
        text = self.kosmos2_5.text_model.model
        if pixel_values is None:
            return text(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        image_embeds = self.kosmos2_5.get_image_features(flattened_patches=pixel_values).pooler_output
        return text(input_ids=input_ids, attention_mask=attention_mask, image_embeds=image_embeds,
                    image_embeds_position_mask=image_embeds_position_mask, **kwargs)


class Kosmos2_5Adapter(Kosmos2Adapter):
    model_types = ("kosmos-2.5",)
    photo_through_processor = False  # the processor's output is patches, not one image

    def __init__(self, model, processor):
        # not Kosmos-2's __init__: there is no square `size` (nor mean/std) to read
        self.model, self.processor = model, processor
        ip = processor.image_processor
        patch = ip.patch_size
        get = patch.get if hasattr(patch, "get") else lambda key: getattr(patch, key, None)
        self.patch = int(get("height"))
        if int(get("width")) != self.patch:
            raise UserError(f"this Kosmos-2.5 image processor has {get('height')}x{get('width')} patches; "
                            "layerdream handles square patches only")
        # the image processor's own max_patches (4096, saved with the checkpoint), passed on every processor call
        # (Kosmos2_5Processor's call default is 4096 too, whatever the image processor says)
        self.max_patches = int(ip.max_patches)
        self.side = math.isqrt(self.max_patches)
        if self.side * self.side != self.max_patches:
            raise UserError(f"max_patches = {self.max_patches} is not a square number, so no square picture fills it; "
                            "layerdream fixes one square geometry (docs/families/kosmos2_5.md)")
        self.image_size = self.side * self.patch
        vision = model.config.vision_config
        if int(vision.patch_embed_hidden_size) != 3 * self.patch * self.patch:
            raise UserError(f"this Kosmos-2.5 processor makes {self.patch}-px patches ({3 * self.patch ** 2} values) but "
                            f"the tower takes {vision.patch_embed_hidden_size}; use the processor saved with the model")
        queries = int(model.config.latent_query_num)
        if int(getattr(processor, "num_image_tokens", queries)) != queries:
            raise UserError(f"the processor writes {processor.num_image_tokens} image tokens but the model has "
                            f"{queries} latent queries; use the processor saved with the model")
        rows = math.isqrt(queries)
        while queries % rows:
            rows -= 1
        self._grid = (rows, queries // rows)
        self.mean = torch.zeros(1, 3, 1, 1)  # unused: the normalisation is per image
        self.std = torch.ones(1, 3, 1, 1)
        self.backbone = Kosmos2_5Backbone(model)
        self.decoder = model.text_model.model
        self._mask = None
        rc = torch.arange(self.max_patches)
        self._ids = torch.stack([rc // self.side + 1, rc % self.side + 1], -1).float()  # 1-based (row, col)

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N,3,S,S) in [0,1] -> flattened patches (N, max_patches, 2 + 3 p^2), as the image processor:
        per-image standardisation of the 0-255 values, then (row id, col id, patch as (y, x, channel))."""
        x = images * 255  # the processor normalises the uint8 values without rescaling
        n = x.shape[0]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True)
        floor = 1.0 / math.sqrt(x[0].numel())
        x = (x - mean) / var.clamp_min(floor * floor).sqrt()  # max(std, floor) without sqrt's infinite slope at 0
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:  # after the normalisation, as there
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False, antialias=True)
        p, s = self.patch, self.side
        patches = x.reshape(n, 3, s, p, s, p).permute(0, 2, 4, 3, 5, 1).reshape(n, s * s, p * p * 3)
        ids = self._ids.to(patches.device, patches.dtype).expand(n, -1, -1)
        return {"pixel_values": torch.cat([ids, patches], -1)}

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        enc = self.processor(images=gray, text="", max_patches=self.max_patches, return_tensors="pt")
        self._mask = enc["image_embeds_position_mask"]
        return {name: enc[name] for name in ("input_ids", "attention_mask", "image_embeds_position_mask")}

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The mask's 1s: the query outputs' places (its -1s are ``<image>`` / ``</image>``, kept as tokens)."""
        if self._mask is None or self._mask.shape[-1] != input_ids.shape[-1]:
            self.image_prompt()
        positions = (self._mask[0] == 1).nonzero().flatten()
        if positions.numel() != self._grid[0] * self._grid[1]:
            raise RuntimeError(f"found {positions.numel()} image positions in the prompt, expected {self._grid[0] * self._grid[1]}")
        return positions

    def vision_dims(self) -> VisionDims:
        v = self.model.config.vision_config
        return VisionDims(tokens=self.max_patches, width=int(v.hidden_size), mlp=int(v.intermediate_size),
                          layers=int(v.num_hidden_layers), heads=int(v.num_attention_heads))
