"""Muse Spark (``MuseSparkForConditionalGeneration``): Muse Glimmer's adapter, plus an MoE rule.

* **Vision path as Muse Glimmer** (``muse_glimmer.py``): transformers maps ``muse_spark`` to
  ``MuseGlimmerImageProcessor``; the same tower, pixel shuffle, vision adapter, projection and RMSNorm; the
  same fixed square (448 px, 16 x 16 = 256 tokens), raster-order (temporal, channel) patches and 1-D positions.
* **Audio.** The model always builds an audio tower (a convolutional pyramid over raw samples); an image
  prompt carries no audio, so it never runs.
* **MoE text model.** Each sparse block routes every token on its own: a sigmoid score per expert (plus a
  correction bias that only picks), top-k of ``num_local_experts``, weights renormalised; no capacity limit and
  no token dropping, so an image's tokens take the same experts alone as in a batch. The experts and their
  weights are differentiable; the discrete choice is not (its gradient is the chosen experts' and weights').
  Recorded in each result (:meth:`result_notes`).
* **Gated residual.** Each block mixes its branch into the stream as ``alpha * residual + beta * branch``
  (``MuseSparkResidualGate``): one residual stream still, and layer l is block l's output.
"""
from __future__ import annotations

from .muse_glimmer import MuseGlimmerAdapter


class MuseSparkAdapter(MuseGlimmerAdapter):
    model_types = ("muse_spark",)
    family_name = "Muse Spark"

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.num_local_experts)} experts "
                               "(sigmoid scores, no capacity limit); gradients through the chosen experts and their "
                               "weights, not the discrete choice"}
