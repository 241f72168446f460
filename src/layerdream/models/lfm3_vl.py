"""LFM3-VL (``Lfm3VlForConditionalGeneration``): EXAONE 4.5's adapter (Qwen2-VL pixels, 1-D positions).

* **Pixels and geometry as Qwen2-VL** (``qwen2_5_vl.py``): the checkpoint's image processor is
  ``Qwen2VLImageProcessor`` (patch 16, 2x2 merge windows, temporal patch 2; flattened ``pixel_values`` in
  merge-window order + ``image_grid_thw``), and its ``smart_resize`` leaves the fixed 16 x 16-token square
  alone: **512 px** at patch 16 (moved inside the checkpoint's pixel bounds as for Qwen).
* **Own tower.** LFM3-VL's ViT is a stack of gated depthwise 3x3 convolutions over each image's patch grid
  ("short convolutions", which re-raster the merge-window order to the grid and back) and bidirectional
  attention blocks with axial 2-D rotary positions; the projector normalises each patch, concatenates each
  2x2 merge window and maps it through an MLP: one token per window, windows row-major, so the grid is
  (h/2, w/2) in sequence order.
* **No M-RoPE.** The LFM3 text model (short-convolution, sliding- and full-attention blocks on one residual
  stream) gives every token plain 1-D positions: no ``get_rope_index``, no ``mm_token_type_ids``; the prompt
  and the forward are the default adapter's (ids and mask repeated, plus the pixels and ``image_grid_thw``).
  Layer l is block l's output as in any decoder.
* **Memory.** :meth:`vision_dims` reads the ViT's config under its plain names (``hidden_size``,
  ``intermediate_size``, ``num_hidden_layers``, ``num_attention_heads``) with the generic per-token block
  terms (not measured for this tower).
"""
from __future__ import annotations

from .adapter import VisionDims, vision_dims_from_config
from .exaone4_5 import Exaone4_5Adapter


class Lfm3VlAdapter(Exaone4_5Adapter):
    model_types = ("lfm3_vl",)

    def vision_dims(self) -> VisionDims:
        return vision_dims_from_config(self.model.config.vision_config, self.image_size)


__all__ = ["Lfm3VlAdapter"]
