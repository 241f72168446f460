"""Mistral Large 4 (``MistralLarge4ForConditionalGeneration``): Mistral 3's adapter, with an MoE text model.

transformers 5.24 builds the class on Mistral 3 (modular_mistral_large4.py): the same Pixtral tower, patch
merger and projector, the same ``PixtralProcessor`` / Pixtral image processor (``PixtralImageProcessorPil``,
the PIL twin, loads without torchvision), the same ``[IMG]`` rows closed by ``[IMG_BREAK]`` / ``[IMG_END]``.
So the fixed geometry (16 x 16 merged tokens, 448 px at patch 14), the grid and the pixels are Mistral 3's.

What differs is the text model, and it changes nothing the adapter does, but it is recorded in results
(:meth:`result_notes`):

* **MoE routing is part of the forward.** Each sparse block sends every token to its top-k routed experts
  (softmax router scores, top-k renormalised) plus a shared expert; no capacity limit, so a token's route
  depends on its own state only (an image's tokens route the same alone and in a batch). The early exit
  stops after block l like any other forward: the routing of blocks 1..l is inside what it runs. The
  gradient to the pixels flows through the chosen experts and their gate weights, never through the
  discrete choice (a step can move a token to another expert).
* **DSA sparse attention.** Each block's indexer picks the top ``index_topk`` (2048 on the release) keys per
  query, without gradient; the image prompt (about 275 tokens at the fixed geometry) is shorter than that,
  so every causal key is kept: attention over the prompt is dense.
* The class's logit soft-capping acts on the logits only (never computed by the early exit).
"""
from __future__ import annotations

from .mistral3 import Mistral3Adapter


class MistralLarge4Adapter(Mistral3Adapter):
    model_types = ("mistral_large4",)

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        dense = sum(kind != "sparse" for kind in text.mlp_layer_types[:layer])
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} experts "
                               f"(softmax router) + {int(text.n_shared_experts)} shared; blocks 1..{layer} run their "
                               f"routing ({dense} of them dense); gradients through the chosen experts and their "
                               "gate, not the discrete choice",
                "dsa_index_topk": int(text.index_topk)}
