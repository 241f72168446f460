"""Granite 4 Vision (``Granite4VisionForConditionalGeneration``): LLaVA-NeXT's anyres adapter, with every image
feature arriving as an injection before chosen decoder blocks.

* **No image embeddings; only injections.** The model zeroes the image tokens' input embeddings. Each pair
  (vision layer v, LLM index k) of ``deepstack_layer_map``, and each of the four spatial-offset samplings of
  ``spatial_vision_layer`` (targets ``spatial_target_layers``), goes through its own Window Q-Former projector
  and is packed as LLaVA-NeXT packs features (base view, unpadded anyres tiles, a newline per row); the text
  model adds feature k to the image tokens' states right *before* decoder block k (0-based) runs. Targets are
  a dict in the model (a block named twice keeps its last feature) and a target >= the number of blocks is
  never added.
* **Which state layer l is.** HF's ``hidden_states[l]`` (and a hook on ``layers[l-1]``) is block l's output
  *before* the injection aimed at block index l; what block l+1 reads, the residual stream, is that plus the
  feature. layerdream reads **layer l after every injection up to block l+1**: the state block l+1 reads (for
  the last block, its output), the rule of Qwen3-VL's DeepStack (``qwen3_vl.py``). How: a pre-hook on the text
  model takes the features aimed at blocks 1.. out of the call (the one aimed at block 0 stays: the model adds
  it to the zeroed embeddings itself), and a forward hook on block k, placed before every other hook, adds the
  feature aimed at index k to its output with the model's own arithmetic. The final output is unchanged; the
  early-exit capture and ``hidden_states[l]`` on this handle are after the injection. Each result records it.
* **Geometry.** LLaVA-NeXT's fixed square (``llava_next.py``: one tile-sized image, canvas by the model's own
  ``select_best_resolution``); the Q-Former shrinks each view's g x g patches by ``downsample_rate`` (query
  window / key window), so the grid is g' x (g' + 1), g' = g x rate, after g'^2 base-view tokens.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import torch

from .adapter import VisionDims
from .llava_next import LlavaNextAdapter


class Granite4VisionAdapter(LlavaNextAdapter):
    model_types = ("granite4_vision",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        config = model.config
        self._patches = self._g
        self._g = int(self._g * Fraction(config.downsample_rate)) if config.downsample_rate else self._g
        text_model = model.get_decoder()
        blocks = len(text_model.layers)
        targets = [int(k) for _, k in (config.deepstack_layer_map or ())] + [int(k) for k in config.spatial_target_layers or ()]
        self.injected_into_embeddings = 0 in targets
        self.injected_after_layers = tuple(sorted({k for k in targets if 1 <= k < blocks}))
        self._pending: tuple[torch.Tensor, dict[int, torch.Tensor]] | None = None
        text_model.register_forward_pre_hook(self._take_injections, with_kwargs=True)
        text_model.register_forward_hook(self._drop_injections, always_call=True)
        for layer in self.injected_after_layers:
            text_model.layers[layer - 1].register_forward_hook(self._inject(layer), prepend=True)

    # -- the injections inside the blocks' outputs -----------------------------------------------
    def _take_injections(self, module, args, kwargs):
        features, mask = kwargs.get("deepstack_features"), kwargs.get("vision_mask")
        if features is None or mask is None:
            self._pending = None
            return None
        self._pending = (mask, {k: v for k, v in features.items() if k >= 1})
        first = {k: v for k, v in features.items() if k < 1}
        return args, {**kwargs, "deepstack_features": first or None}

    def _drop_injections(self, module, args, output):
        self._pending = None  # runs even when the engine stops the forward early: frees the features

    def _inject(self, layer: int):
        def hook(module, args, output: Any):
            if self._pending is None or layer not in self._pending[1]:
                return None
            mask, features = self._pending
            hidden = output[0] if isinstance(output, tuple) else output
            feature = features[layer].to(hidden.device, hidden.dtype)
            mask = mask.to(hidden.device)
            # the text model's own addition (Granite4VisionTextModel.forward), one block earlier in the loop
            hidden = hidden.masked_scatter(mask, (hidden[mask.squeeze(-1)] + feature).view(-1))
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return hook

    def result_notes(self, layer: int) -> dict:
        return {"deepstack": {"layer_read": "after_injection", "injected_after_layers": list(self.injected_after_layers),
                              "injected_into_embeddings": self.injected_into_embeddings,
                              "image_embeddings": "zeroed; every image feature is an injection"}}

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        return VisionDims(tokens=(1 + self.tiles) * self._patches**2, width=int(vision.hidden_size),
                          mlp=int(vision.intermediate_size), layers=int(vision.num_hidden_layers),
                          heads=int(vision.num_attention_heads))
