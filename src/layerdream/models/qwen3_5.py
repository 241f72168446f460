"""Qwen3.5 (``Qwen3_5ForConditionalGeneration``, ``Qwen3_5MoeForConditionalGeneration``): Qwen2.5-VL's adapter.

The image path is Qwen3-VL's ViT and merger without DeepStack: the merged last-layer features replace
the image tokens' embeddings and nothing is added later, so every Qwen2.5-VL rule holds unchanged
(``qwen2_5_vl.py``): a fixed 16 x 16-token square (512 px for patch 16 / merge 2), flattened
``pixel_values`` patchified in torch with ``image_grid_thw``, explicit 3-D M-RoPE ``position_ids`` from
the model's own ``get_rope_index`` (``rope_deltas`` never read), the processor's template on both sides.

What differs is the text model, and it changes nothing the adapter does: most blocks are Gated-DeltaNet
linear attention (a recurrent state over the sequence, no positions), every few a full-attention block
with M-RoPE. Each block still reads and writes one residual stream, so layer l is the output of block l
as everywhere. The MoE variant only swaps the MLPs (routing inside each block).
"""
from __future__ import annotations

from .qwen2_5_vl import Qwen2_5_VLAdapter


class Qwen3_5Adapter(Qwen2_5_VLAdapter):
    model_types = ("qwen3_5", "qwen3_5_moe")
    #: Qwen3-VL's tower (plain GELU MLP): ~I + 9 D per token and ViT block kept for backward
    vision_block_terms = (1, 9)
