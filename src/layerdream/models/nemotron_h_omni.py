"""Nemotron-H Omni (``NemotronH_Omni_Reasoning_V3``): only what differs from the default adapter.

* **No ``.model``.** The class holds its parts as attributes: ``language_model`` is a whole
  ``NemotronHForCausalLM``. :attr:`backbone` runs the model's own forward for image prompts (its tower, pixel
  shuffle, projector and scatter; the early exit stops it inside the language model, so neither the last blocks
  nor the LM head run) and the language model's base ``NemotronHModel`` for text prompts; :attr:`decoder` is that
  base model, whose ``layers`` the early exit hooks.
* **One residual stream over hybrid blocks.** NemotronH stacks Mamba-2, attention, MLP and MoE blocks, each
  ``x + mixer(norm(x))``: layer l is block l's output whatever its kind, ``hidden_states[l]`` (tested at a
  block of each kind). Image prompts run without a cache (``use_cache=False``), so no Mamba state is carried
  between calls. MoE blocks route each token to its top-k experts by its own state (recorded in results).
* **Native resolution fixed.** The image processor picks a patch grid per image (``get_patch_grid_size``:
  the picture's own grid scaled into ``[min_num_patches, budget]``, sides multiples of the pixel-shuffle merge,
  budget = ``max_num_patches`` capped by ``max_model_len``); layerdream fixes Qwen's 16 x 16-token square
  (512 px at patch 16: 32 x 32 patches), moved inside those bounds, where the processor does not resize. Pixels:
  ``(x - mean) / std`` then row-major patches, each channel-major (3, p, p), with ``image_grid_hw`` = (gh, gw);
  tokens after the 2x2 pixel shuffle are row-major (gh/2, gw/2).
* The image processor has no ``size``; its geometry comes from ``patch_size`` / ``downsample_ratio`` /
  ``min_num_patches`` / ``max_num_patches`` / ``max_model_len``.
"""
from __future__ import annotations

import torch

from .adapter import FamilyAdapter, VisionDims, channel_stats
from .processors import share_chat_template
from .qwen2_5_vl import fixed_side


class NemotronHOmniBackbone(torch.nn.Module):
    """The forward layerdream calls: the model's own (image prompts) or its language model's base (text)."""

    def __init__(self, model):
        super().__init__()
        self.omni = model

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, image_grid_hw=None, **kwargs):
        if pixel_values is None:
            return self.omni.language_model.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return self.omni(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                         image_grid_hw=image_grid_hw, **kwargs)


class NemotronHOmniAdapter(FamilyAdapter):
    model_types = ("nemotron_h_omni",)
    #: the hybrid model builds its masks inside the language model, past the point VLM could capture them
    reusable_masks = False

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        share_chat_template(processor)
        ip = processor.image_processor
        self.mean, self.std = channel_stats(ip)
        self.patch = int(ip.patch_size)
        self.merge = round(1 / float(ip.downsample_ratio))
        budget = (int(ip.max_model_len) - 4) * self.merge**2
        if ip.max_num_patches:
            budget = min(budget, int(ip.max_num_patches))
        budget = max(budget, int(ip.min_num_patches))
        self.side = fixed_side(self.patch * self.merge, int(ip.min_num_patches) * self.patch**2, budget * self.patch**2)
        self.image_size = self.side * self.patch * self.merge
        self.backbone = NemotronHOmniBackbone(model)
        self.decoder = model.language_model.model

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = super().preprocess(images)["pixel_values"]
        n, c, h, w = x.shape
        p = self.patch
        gh, gw = h // p, w // p
        patches = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(n * gh * gw, c * p * p)
        grid_hw = torch.tensor([[gh, gw]], dtype=torch.long, device=x.device).expand(n, 2)
        return {"pixel_values": patches, "image_grid_hw": grid_hw}

    def image_placeholder(self) -> str:
        return self.processor.image_token  # the processor writes <img> ... </img> around the expanded block

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        prefix = int(vision.num_cls_tokens) + int(vision.num_registers)
        return VisionDims(tokens=(self.image_size // self.patch) ** 2 + prefix, width=int(vision.hidden_size),
                          mlp=int(vision.hidden_size * vision.mlp_ratio), layers=int(vision.num_hidden_layers),
                          heads=int(vision.num_attention_heads))

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        names = [type(block.mixer).__name__.removeprefix("NemotronH") for block in self.decoder.layers]
        notes = {"hybrid_blocks": f"layer {layer} is the output of block {layer} of {len(names)} ({names[layer - 1]}); "
                                  f"blocks run: {', '.join(names[:layer])}"}
        if "MoE" in names:
            notes["moe_routing"] = (f"per-token top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} "
                                    "experts + shared expert; gradients through the chosen experts and their gate, "
                                    "not the discrete choice")
        return notes
