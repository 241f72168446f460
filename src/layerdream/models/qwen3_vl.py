"""Qwen3-VL (``Qwen3VLForConditionalGeneration``): Qwen2.5-VL's adapter plus DeepStack.

Everything of Qwen2.5-VL holds (``qwen2_5_vl.py``): native resolution fixed to a 16 x 16-token square
(512 px for patch 16 / merge 2), flattened ``pixel_values`` patchified in torch, 3-D M-RoPE positions
passed explicitly so the cached ``rope_deltas`` is never read nor written. What is new:

* **DeepStack.** Besides the merged last-layer features that replace the image tokens' embeddings,
  the ViT hands over features from a few of its layers (8/16/24 in the 8B model), each through its
  own merger; the text model adds feature k to the image tokens' states right *after* decoder block
  k+1 (k = 0, 1, 2), inside its layer loop. So the states of the image tokens after blocks 1-3 exist
  twice: before the addition, which is what HF's ``hidden_states[l]`` and a forward hook on
  ``layers[l-1]`` see, and after it, which is what block l+1 actually reads: the residual stream.

  layerdream reads **layer l after the injection**: the residual stream that the rest of the model
  sees, so the image side at layer l means the same thing for Qwen3-VL as for every other family.
  (Before the injection, layers 1-3 would compare the concept with image states the model never
  uses.) How: the adapter moves the addition into the block itself. A pre-hook on the text model
  takes ``deepstack_visual_embeds`` out of the call (the text model then adds nothing), and a forward
  hook on each block k+1, placed before every other hook, adds feature k at the image positions with
  the model's own ``_deepstack_process``. The model's final output is unchanged (the same addition
  at the same point), while the block's output, and therefore the engine's early-exit capture and
  HF's ``hidden_states[l]`` on this handle, are the state after the injection. Each result records
  it (``config["deepstack"]``). Text prompts carry no image, so their states are untouched.
"""
from __future__ import annotations

from typing import Any

import torch

from .qwen2_5_vl import Qwen2_5_VLAdapter


class DeepStackReading:
    """Reads layer l after DeepStack's injection (the module docstring): mixed into an adapter whose model's
    text model takes ``deepstack_visual_embeds`` / ``visual_pos_masks`` and adds feature k after block k+1
    with ``_deepstack_process`` (Qwen3-VL, Qwen3-Omni, Granite-Docling). Call :meth:`install_deepstack`."""

    def install_deepstack(self, model) -> None:
        indexes = getattr(model.config.vision_config, "deepstack_visual_indexes", None) or ()
        self.deepstack_layers = tuple(range(1, len(indexes) + 1))
        self._pending: tuple[torch.Tensor, list[torch.Tensor]] | None = None
        text_model = model.get_decoder()
        text_model.register_forward_pre_hook(self._take_deepstack, with_kwargs=True)
        text_model.register_forward_hook(self._drop_deepstack, always_call=True)
        for layer in self.deepstack_layers:
            text_model.layers[layer - 1].register_forward_hook(self._add_deepstack(layer - 1), prepend=True)

    # -- DeepStack inside the block's output ----------------------------------------------------
    def _take_deepstack(self, module, args, kwargs):
        """Keep this call's DeepStack features for the block hooks; the text model adds none itself."""
        embeds, masks = kwargs.get("deepstack_visual_embeds"), kwargs.get("visual_pos_masks")
        self._pending = (masks, embeds) if embeds is not None and masks is not None else None
        if embeds is None:
            return None
        return args, {**kwargs, "deepstack_visual_embeds": None}

    def _drop_deepstack(self, module, args, output):
        self._pending = None  # runs even when the engine stops the forward early: frees the features

    def _add_deepstack(self, index: int):
        def hook(module, args, output: Any):
            if self._pending is None:
                return None
            masks, embeds = self._pending
            if index >= len(embeds):
                return None
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = self.model.get_decoder()._deepstack_process(hidden, masks, embeds[index])
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return hook

    def result_notes(self, layer: int) -> dict:
        return {"deepstack": {"layer_read": "after_injection", "injected_after_layers": list(self.deepstack_layers)}}


class Qwen3VLAdapter(DeepStackReading, Qwen2_5_VLAdapter):
    #: Cosmos 3 Omni's reasoner is Qwen3-VL's architecture under its own config type; Cohere Compass is Qwen3-VL's
    #: tower, processor and DeepStack in front of a Cohere2-style decoder (docs/families/cosmos3_omni.md, cohere_compass.md)
    model_types = ("qwen3_vl", "qwen3_vl_moe", "cosmos3_omni", "cohere_compass")
    #: per token and ViT block ~I + 9 D kept for backward (plain GELU MLP; q and k rotated in fp32)
    vision_block_terms = (1, 9)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        self.install_deepstack(model)
