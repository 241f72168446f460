"""MiniMax-M3-VL (``MiniMaxM3SparseForConditionalGeneration``): EXAONE 4.5's adapter (Qwen2.5-VL's pixels with
1-D text positions), with a sparse MoE text model.

* **Pixels as Qwen2-VL's.** ``MiniMaxM3VLImageProcessor`` is ``Qwen2VLImageProcessor`` with other size defaults
  (4 x 28 x 28 .. 451584 pixels): patch 14, 2x2 merge windows, temporal patch 2, flattened ``pixel_values`` +
  ``image_grid_thw``; its ``smart_resize`` leaves the fixed 16 x 16-token square (448 px) alone. The tower (a
  CLIP-like ViT with a Conv3d patch embedding and 3-D RoPE, attending within each image) keeps the patches in
  merge-window order; the projector maps each patch to the text width and fuses each window's 4 patches into
  one token, windows row-major: the grid is 16 x 16.
* **Image block.** The template writes ``]<]image[>[``; the processor expands it to ``]<]start of image[>[`` +
  256 x ``]<]image[>[`` + ``]<]end of image[>[`` (the start/end markers are text tokens outside the grid).
* **1-D positions** (the text model has no M-RoPE): the prompt's ids and mask, as EXAONE 4.5.
* **MoE routing is part of the forward.** Each sparse block sends every token to its top-k routed experts by
  sigmoid router scores (a per-expert bias steers the choice only; the chosen scores renormalised, times
  ``routed_scaling_factor``) plus a shared expert; no capacity limit, so routing is per token. The early exit
  stops after block l as for any model; gradients flow through the chosen experts and their gate values, never
  the discrete choice. Recorded in each result (:meth:`result_notes`).
* **Sparse attention layers** (``layer_types`` ``minimax_m3_sparse``): a lightning indexer keeps, per query, the
  top ``index_topk_blocks`` key blocks of ``index_block_size`` tokens plus the local ones, without gradient; at
  the fixed geometry (about 270 tokens, 3 blocks of 128 on the release, 16 kept) every causal key is kept.
"""
from __future__ import annotations

from .exaone4_5 import Exaone4_5Adapter


class MiniMaxM3VLAdapter(Exaone4_5Adapter):
    model_types = ("minimax_m3_vl",)
    vision_block_terms = (1, 6)  # plain GELU-MLP ViT block: the memory model's generic term (not measured)

    def image_placeholder(self) -> str:
        return self.processor.image_token  # the processor adds the start / end markers itself

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        kinds = list(text.mlp_layer_types)[:layer]
        sparse_attention = [i + 1 for i, kind in enumerate(list(text.layer_types)[:layer]) if kind != "full_attention"]
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.num_local_experts)} experts "
                               f"(sigmoid router) + shared expert; blocks 1..{layer} run their routing "
                               f"({sum(k != 'sparse' for k in kinds)} of them dense); gradients through the chosen "
                               "experts and their gate, not the discrete choice",
                "sparse_attention_blocks": sparse_attention}
