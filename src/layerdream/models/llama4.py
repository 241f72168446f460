"""Llama 4 (``Llama4ForConditionalGeneration``: Scout / Maverick): only what differs from the default adapter.

* **One tile fixed.** ``Llama4ImageProcessor`` fits an image onto a canvas of up to ``max_patches`` (16)
  square tiles of ``size`` (336 px), and adds a global 336-px view whenever there is more than one tile.
  A square image of exactly one tile is picked as its own canvas (best-fit scale 1, the smallest area),
  is not resized or padded, and gets no global view: layerdream fixes **one 336-px tile**, i.e.
  (336 / 14)^2 patches, pixel-shuffled (ratio 0.5) to **12 x 12 = 144 image tokens**; ``aspect_ratios``
  (1, 1) is what the processor writes for it (the model reads only ``pixel_values``).
* **The processor's bfloat16 arithmetic, reproduced.** The processor rescales and normalises in
  bfloat16 ("as in the original implementation"): ``bf16(bf16(k * 1/255) - mean) / std`` for a uint8
  value k. :meth:`preprocess` takes the same three roundings (casts, whose gradient passes unchanged),
  so our pixels are the processor's exactly while the synthesised image stays a float tensor.
* **Layout.** The prompt is ``<|image_start|><|image|>`` + ``<|patch|>`` x 144 + ``<|image_end|>``; the
  features go to the ``<|patch|>`` positions (``config.image_token_id``). The tower's ``pixel_shuffle``
  folds width pairs, then height pairs, and returns (h, w) row-major: the grid is 12 x 12 in sequence order.
* **MoE text model.** Every ``interleave_moe_layer_step``-th block (all on Scout) routes each token to its
  top-``num_experts_per_tok`` expert (1) by a sigmoid-gated router, plus a shared expert. Routing is per
  token, with no capacity limit, so a token's route depends only on its own state: an image's tokens are
  routed the same in a batch of copies as alone (tested). The gradient follows the chosen expert (and the
  router's gate value), never the discrete choice; recorded in each result (:meth:`result_notes`).
* **No ``.model`` on the class.** It holds ``language_model`` (a ``Llama4ForCausalLM``): :attr:`backbone`
  runs the model's own image path (``get_image_features``, ``multi_modal_projector``,
  ``get_placeholder_mask``, ``masked_scatter``, as its forward does) into the text model, and the text
  model alone for text prompts; :attr:`decoder` is that text model, whose blocks the early exit hooks.
* **Upstream bug worked around (transformers 5.24).** ``Llama4ForConditionalGeneration.forward`` ends by
  reading ``outputs.image_outputs`` from the text model's ``MoeCausalLMOutputWithPast``, which has no
  such field: every call with ``return_dict`` fails with an AttributeError after the full forward. The
  backbone never calls it.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, resize_to
from .processors import share_chat_template


class Llama4Backbone(torch.nn.Module):
    """The forward layerdream calls: the model's own image path into its text model (image prompts), the
    text model alone (text prompts). Not the top-level forward: in transformers 5.24 it fails after the
    whole model has run (its return reads ``outputs.image_outputs``, which the text model's output lacks)."""

    def __init__(self, model):
        super().__init__()
        self.llama4 = model

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, **kwargs):
        text = self.llama4.language_model.model
        if pixel_values is None:
            return text(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        m = self.llama4
        embeds = m.get_input_embeddings()(input_ids)
        features = m.get_image_features(pixel_values=pixel_values, return_dict=True).last_hidden_state
        projected = m.multi_modal_projector(features.view(-1, features.size(-1))).to(embeds.device, embeds.dtype)
        mask = m.get_placeholder_mask(input_ids, inputs_embeds=embeds, image_features=projected)
        return text(inputs_embeds=embeds.masked_scatter(mask, projected), attention_mask=attention_mask, **kwargs)


def _bf16(x: torch.Tensor) -> torch.Tensor:
    """Round to bfloat16 and back (the gradient passes through the casts unchanged)."""
    return x.to(torch.bfloat16).to(x.dtype)


class Llama4Adapter(FamilyAdapter):
    model_types = ("llama4",)
    reusable_masks = False

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        vision = model.config.vision_config
        patch = int(vision.patch_size)
        if int(getattr(processor, "patch_size", patch)) != patch:
            raise UserError(f"this Llama 4 processor counts {processor.patch_size}-px patches but the vision tower cuts "
                            f"{patch} px; use the processor saved with the model")
        if self.image_size != int(vision.image_size):
            raise UserError(f"this Llama 4 processor's tile is {self.image_size} px but the vision tower takes "
                            f"{vision.image_size} px; use the processor saved with the model")
        ratio = float(vision.pixel_shuffle_ratio)
        side = self.image_size // patch
        self.side = int(round(side * ratio))
        if self.side * self.side * round(1 / ratio**2) != side * side:
            raise UserError(f"a {self.image_size}-px tile of {patch}-px patches does not pixel-shuffle evenly by {ratio}")
        self.rescale = float(getattr(processor.image_processor, "rescale_factor", 1 / 255))
        self.backbone = Llama4Backbone(model)
        self.decoder = model.language_model.model

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = resize_to(images, self.image_size)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        # the processor: bf16(k) * 1/255 in bf16, minus mean in bf16, over std in bf16 (k = 255 x our value)
        scaled = _bf16(_bf16(images * 255) * self.rescale)
        return {"pixel_values": _bf16(_bf16(scaled - mean) / std)}

    def vision_dims(self) -> VisionDims:
        v = self.model.config.vision_config
        return VisionDims(tokens=(self.image_size // int(v.patch_size)) ** 2 + 1, width=int(v.hidden_size),
                          mlp=int(v.intermediate_size), layers=int(v.num_hidden_layers), heads=int(v.num_attention_heads))

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.num_local_experts)} experts "
                               "(sigmoid gate) + shared expert; gradients through the chosen experts and their gate, "
                               "not the discrete choice"}
