"""ERNIE 4.5-VL (``Ernie4_5_VLMoeForConditionalGeneration``): Qwen2.5-VL's adapter plus modality routing.

What holds from ``qwen2_5_vl.py``: native resolution fixed to a 16 x 16-token square (448 px for patch 14
/ merge 2, inside the processor's pixel bounds, where ``smart_resize`` is the identity), flattened patches
in merge-window order with ``image_grid_thw`` (temporal patch 1: the resampler itself duplicates a still
image over its temporal merge), explicit 3-D M-RoPE ``position_ids`` from ``get_rope_index``.

What differs: **modality-routed MoE.** Every sparse block sends text tokens to text experts and vision
tokens (the image tokens and the image start/end tokens) to vision experts, as the processor's
``moe_mm_token_type_ids`` marks them. The image prompt keeps that tensor and every image forward gets
it; without it every token would take the text experts and the image states would be another model's.
Text prompts (concept vectors) carry no image, so they need none (all text experts, as the model does).
"""
from __future__ import annotations

import torch

from .adapter import FamilyAdapter
from .qwen2_5_vl import Qwen2_5_VLAdapter


class Ernie4_5_VLAdapter(Qwen2_5_VLAdapter):
    model_types = ("ernie4_5_vl_moe",)
    vision_block_terms = (1, 6)  # Qwen2-VL-style block (quick-GELU MLP): the generic term (not measured)

    def image_placeholder(self) -> str:
        return self.processor.image_start_token + self.processor.image_token + self.processor.image_end_token

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """Qwen's prompt and 3-D positions, plus the processor's ``moe_mm_token_type_ids`` (the routing)."""
        saved = self.extra_input_names
        self.extra_input_names = ("mm_token_type_ids", "image_grid_thw", "moe_mm_token_type_ids")
        try:
            enc = FamilyAdapter.image_prompt(self, prompt_format)
        finally:
            self.extra_input_names = saved
        with torch.no_grad():
            positions, _ = self.model.model.get_rope_index(
                enc["input_ids"], mm_token_type_ids=enc["mm_token_type_ids"], image_grid_thw=enc["image_grid_thw"],
                attention_mask=enc["attention_mask"])
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "position_ids": positions,
                "moe_mm_token_type_ids": enc["moe_mm_token_type_ids"]}

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        inputs = super().forward_inputs(prompt, pixels, n)
        inputs["moe_mm_token_type_ids"] = prompt["moe_mm_token_type_ids"].expand(n, -1)
        return inputs
