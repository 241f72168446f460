"""BLIP-2 (``Blip2ForConditionalGeneration``) with a decoder-only language model (OPT): only what
differs from the default adapter.

* **Learned queries as the image tokens.** The ViT's patch features are read by ``num_query_tokens``
  (32) learned Q-Former queries through cross-attention; their outputs, projected, are the image
  tokens. No query is a place in the image, so the spatial prior is **flat** (``spatial_layout`` False,
  the rule Idefics2 follows: every token weighs alike, recorded in each result), and ``grid`` is only
  the count as rows x cols (4 x 8).
* **Decoder-only checkpoints only.** The Flan-T5 checkpoints (``use_decoder_only_language_model``
  False) put the image tokens into a T5 *encoder* that the decoder reads by cross-attention: there is no
  decoder-only residual stream for "layer l", and such checkpoints are refused in one line.
* **No ``.model`` on the class.** ``Blip2ForConditionalGeneration`` holds ``language_model`` (an
  ``OPTForCausalLM``) directly, so :attr:`backbone` is a small module that runs the model's own forward
  for image prompts (its own merging of the query outputs into the ``<image>`` positions) and returns the
  language model's outputs, and the language model's base model for text prompts; :attr:`decoder` is the
  OPT decoder whose layers the early exit hooks. The last layer never runs, nor the LM head.
* **Image tokens first, no template.** The processor prepends ``<image>`` x 32 to the tokenised text,
  *before* the BOS (``</s>`` for OPT): the image prompt is that block plus BOS; text prompts are raw.
* **Upstream bug worked around (transformers 5.24).** When the tokenizer already names an
  ``image_token`` (as saved tokenizers do), ``Blip2Processor`` keeps it as a string, but its ``__call__``
  reads ``image_token.content`` and fails with an AttributeError on any call with images; the adapter
  wraps the string in an ``AddedToken`` (same text) so the processor works.
* Pixels: ``BlipImageProcessor`` resizes to its square ``size`` (224 for the released checkpoints,
  BICUBIC) and normalises with CLIP mean/std: a square at that size passes unchanged.
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter


class Blip2Backbone(torch.nn.Module):
    """The forward layerdream calls: the model's own (image prompts) or its language model's base (text)."""

    def __init__(self, model):
        super().__init__()
        self.blip2 = model

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, **kwargs):
        if pixel_values is None:
            return self.blip2.language_model.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        out = self.blip2(pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return out.language_model_outputs


class Blip2Adapter(FamilyAdapter):
    model_types = ("blip-2",)
    spatial_layout = False
    reusable_masks = False

    def __init__(self, model, processor):
        if not model.config.use_decoder_only_language_model:
            raise UserError("this BLIP-2 checkpoint's language model is an encoder-decoder (Flan-T5): the image tokens "
                            "sit in its encoder, read by the decoder through cross-attention, so there is no decoder-only "
                            "residual stream for layer l; use a decoder-only (OPT) BLIP-2 checkpoint")
        super().__init__(model, processor)
        if self.image_size != int(model.config.vision_config.image_size):
            raise UserError(f"this BLIP-2 processor gives {self.image_size}-px images but its vision tower takes "
                            f"{model.config.vision_config.image_size} px; use the processor saved with the model")
        queries = int(model.config.num_query_tokens)
        if getattr(processor, "num_query_tokens", queries) != queries:
            raise UserError(f"this BLIP-2 processor writes {processor.num_query_tokens} image tokens for {queries} queries")
        rows = math.isqrt(queries)
        while queries % rows:
            rows -= 1
        self._grid = (rows, queries // rows)
        image_token = getattr(processor, "image_token", None)
        if isinstance(image_token, str):  # upstream bug (5.24): __call__ reads image_token.content
            from tokenizers import AddedToken

            processor.image_token = AddedToken(image_token, normalized=False, special=True)
        self.backbone = Blip2Backbone(model)
        self.decoder = model.language_model.get_decoder()

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    def image_placeholder(self) -> str:
        return ""  # the processor prepends the image block to whatever text it is given

    def has_chat_template(self) -> bool:
        return False  # BLIP-2 checkpoints are prompted raw ("Question: ... Answer:")

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """``<image>`` x Q, then what the tokenizer makes of empty text (OPT: the BOS ``</s>``)."""
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        enc = self.processor(images=gray, text=self.image_placeholder(), return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        if positions.numel() != self._grid[0] * self._grid[1]:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {self._grid[0] * self._grid[1]}")
        return positions

    def result_notes(self, layer: int) -> dict:
        return {"spatial_prior": "flat: the image tokens are Q-Former query outputs (learned queries), not places"}
