"""Kosmos-2 (``Kosmos2ForConditionalGeneration``): only what differs from the default adapter.

* **Latent queries as the image tokens.** CLIP's patch features (post-LayerNorm, L2-normalised) are read
  by ``latent_query_num`` (64) learned queries in the image-to-text projection (attention over the
  patches and the queries); their outputs replace the embeddings at the positions that
  ``image_embeds_position_mask`` marks. No query is a place in the image: the spatial prior is **flat**
  (the rule Idefics2 and BLIP-2 follow), recorded in each result, and the grid (8 x 8) is only the count.
* **Placeholders are ordinary ids.** The processor writes ``<s><image>`` + 64 consecutive vocabulary ids
  (from ``unk + 1``) + ``</image>``; the model finds the image positions only through
  ``image_embeds_position_mask``, which the adapter keeps from the processor and passes on every call
  (``extra_input_names``), and :meth:`image_positions` reads.
* **No ``.model``.** The class holds ``text_model`` (a causal LM over ``Kosmos2TextTransformer``) and the
  vision parts directly, so :attr:`backbone` runs the model's own image features
  (``get_image_features``) and the text transformer's own merging (``image_embeds`` +
  ``image_embeds_position_mask``); text prompts go to the text transformer alone. :attr:`decoder` is that
  transformer; the LM head never runs.
* No chat template: prompts are raw (``<s><image>...</image>`` for images, ``<s>`` + word for text).
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter


class Kosmos2Backbone(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.kosmos2 = model

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, image_embeds_position_mask=None, **kwargs):
        text = self.kosmos2.text_model.model
        if pixel_values is None:
            return text(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        image_embeds = self.kosmos2.get_image_features(pixel_values).pooler_output
        return text(input_ids=input_ids, attention_mask=attention_mask, image_embeds=image_embeds,
                    image_embeds_position_mask=image_embeds_position_mask, **kwargs)


class Kosmos2Adapter(FamilyAdapter):
    model_types = ("kosmos-2",)
    spatial_layout = False
    reusable_masks = False
    extra_input_names = ("image_embeds_position_mask",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        crop = getattr(processor.image_processor, "crop_size", None)
        if crop is not None and getattr(processor.image_processor, "do_center_crop", False):
            get = crop.get if hasattr(crop, "get") else lambda key: getattr(crop, key, None)
            self.image_size = int(get("height"))
        if self.image_size != int(model.config.vision_config.image_size):
            raise UserError(f"this Kosmos-2 processor gives {self.image_size}-px images but its vision tower takes "
                            f"{model.config.vision_config.image_size} px; use the processor saved with the model")
        queries = int(model.config.latent_query_num)
        rows = math.isqrt(queries)
        while queries % rows:
            rows -= 1
        self._grid = (rows, queries // rows)
        self.backbone = Kosmos2Backbone(model)
        self.decoder = model.text_model.model
        self._mask: torch.Tensor | None = None

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    def has_chat_template(self) -> bool:
        return False

    def image_placeholder(self) -> str:
        return ""  # the processor writes the image block itself

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        enc = self.processor(images=gray, text=self.image_placeholder(), return_tensors="pt")
        self._mask = enc["image_embeds_position_mask"]
        return {name: enc[name] for name in ("input_ids", "attention_mask", "image_embeds_position_mask")}

    def text_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self._mask is None or self._mask.shape[-1] != input_ids.shape[-1]:
            self.image_prompt()
        positions = self._mask[0].nonzero().flatten()
        if positions.numel() != self._grid[0] * self._grid[1]:
            raise RuntimeError(f"found {positions.numel()} image positions in the prompt, expected {self._grid[0] * self._grid[1]}")
        return positions

    def result_notes(self, layer: int) -> dict:
        return {"spatial_prior": "flat: the image tokens are latent-query outputs (learned queries), not places"}
