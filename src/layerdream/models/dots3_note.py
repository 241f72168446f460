"""dots3.note (``Dots3NoteForConditionalGeneration``): EXAONE 4.5's adapter (Qwen2-VL pixels, 1-D positions).

* **Pixels.** The image processor is ``Qwen2VLImageProcessor`` (the type's mapping) with the checkpoint's
  temporal patch of 1: the patch embedding reshapes ``pixel_values`` to (3, p, p) patches, in Qwen2-VL's 2x2
  merge-window order, which Qwen2.5-VL's patchify reproduces (``qwen2_5_vl.py``); ``image_grid_thw`` = (1, h, w).
  The fixed square is Qwen's 16 x 16 tokens inside the checkpoint's pixel bounds.
* **1-D positions.** The text model gives every token plain positions (no M-RoPE, no ``mm_token_type_ids``):
  the prompt and forward are the default adapter's, as for EXAONE 4.5 (``exaone4_5.py``).
* **Routing and sparse attention: no rule to pin, one to state.** ViT MoE layers and the text model's MoE route
  each token to its top-k experts by its own state (sigmoid scores, grouped selection, a shared expert in the
  text model); DSA ``indexed_attention`` layers attend to each query's top ``index_topk`` keys (2048 released:
  every key of layerdream's ~270-token image prompt). layerdream runs the model as it is; gradients reach the
  pixels through the chosen experts' outputs and their gate weights, not through which expert is chosen (a
  piecewise-constant choice). Each result records it.
* **Prompt.** The processor's own template on both sides; the raw image placeholder is the processor's image
  token (the template wraps it; dots has no ``vision_start_token``).
"""
from __future__ import annotations

from .adapter import FamilyAdapter
from .exaone4_5 import Exaone4_5Adapter


class Dots3NoteAdapter(Exaone4_5Adapter):
    model_types = ("dots3_note",)

    def image_placeholder(self) -> str:
        return FamilyAdapter.image_placeholder(self)

    def result_notes(self, layer: int) -> dict:
        text, vision = self.model.config.text_config, self.model.config.vision_config
        vision_moe = sum(t == "sparse" for t in vision.mlp_layer_types)
        return {"moe_routing": f"per-token top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} routed "
                               f"experts (sigmoid, grouped) + shared expert in the text model; {vision_moe} MoE ViT "
                               "layers; gradients through the chosen experts and their gate, not the discrete choice",
                "sparse_attention": f"indexed_attention layers keep each query's top {int(text.index_topk)} keys"}
