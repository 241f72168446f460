"""GLM-4.1V / GLM-4.5V (``Glm4vForConditionalGeneration``, ``Glm4vMoeForConditionalGeneration``):
Qwen2.5-VL's adapter with GLM's names. Only what differs from ``qwen2_5_vl.py``:

* **The same patch layout, another resize rule.** The GLM-4.1V image processor patchifies exactly as
  Qwen's (patch 14, 2x2 merge windows, temporal patch 2, flattened ``pixel_values`` + ``image_grid_thw``)
  but its ``smart_resize`` counts the temporal patch in the pixel budget and rounds to the nearest
  multiple of 28. layerdream fixes the same 16 x 16-token square (448 px), its side chosen within the
  bounds divided by the temporal patch (GLM's budget counts t x h x w), and checks on load, with the
  processor's own ``smart_resize``, that it passes unresized (else the checkpoint is refused in one line).
* **3-D positions, explicitly.** ``get_rope_index`` takes ``mm_token_type_ids`` (the processor returns
  them) and ``image_grid_thw`` as Qwen's does; the positions are built once per prompt and passed on every
  call. GLM's text model rotates only part of each head (``partial_rotary_factor``), which the model
  handles; nothing here depends on it.
* **Token names.** ``<|begin_of_image|>`` ``<|image|>`` x N ``<|end_of_image|>``: the placeholder for raw
  prompts; ``config.image_token_id`` is ``<|image|>``, so the default positions are the grid.
* **Vision tower.** Width ``hidden_size``, ``depth`` blocks, a gated SiLU MLP (as Qwen2.5-VL's, so the same
  measured per-token terms feed the memory model: tests/models/test_glm4v.py checks them here), full
  attention, learned position embeddings interpolated to the image's grid. Its MLP is ``out_hidden_size``
  wide (``Glm4VisionMlp``), not ``intermediate_size`` (the merger's: 13696 against 4096 on GLM-4.1V), so
  the memory model reads that width (``mlp_width``); reading ``intermediate_size`` overestimated the
  tower's activations about threefold and planned batches smaller than they need be.
"""
from __future__ import annotations

import dataclasses

from ..errors import UserError
from .adapter import VisionDims
from .qwen2_5_vl import Qwen2_5_VLAdapter, fixed_side


class Glm4vAdapter(Qwen2_5_VLAdapter):
    model_types = ("glm4v", "glm4v_moe", "glm46v")
    mlp_width = "out_hidden_size"  # the vision config's name for its MLP's width (GLM-OCR: intermediate_size)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        from transformers.models.glm4v.image_processing_pil_glm4v import smart_resize

        ip = processor.image_processor
        size = ip.size
        get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
        unit = self.patch * self.merge
        low, high = get("shortest_edge"), get("longest_edge")
        # GLM's budget counts the temporal patch (t x h x w pixels): the square's side follows from bounds / t
        self.side = fixed_side(unit, low and -(-int(low) // self.temporal), high and int(high) // self.temporal)
        self.image_size = self.side * unit
        out = smart_resize(self.temporal, self.image_size, self.image_size, temporal_factor=self.temporal, factor=unit,
                           min_pixels=get("shortest_edge"), max_pixels=get("longest_edge"))
        if tuple(out) != (self.image_size, self.image_size):
            raise UserError(f"this GLM-4V processor resizes a {self.image_size}-px square to {out[0]}x{out[1]}; layerdream "
                            "fixes one square of 16x16 tokens and needs the processor's pixel bounds to allow it")

    def vision_dims(self) -> VisionDims:
        dims = super().vision_dims()
        width = getattr(self.model.config.vision_config, self.mlp_width, None)
        if width is None or self.mlp_width == "intermediate_size":
            return dims
        mlp_factor, width_factor = self.vision_block_terms
        return dataclasses.replace(dims, mlp=mlp_factor * int(width) + (width_factor - 6) * dims.width)

    def image_placeholder(self) -> str:
        return "<|begin_of_image|>" + self.processor.image_token + "<|end_of_image|>"
