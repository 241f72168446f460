"""Qwen2.5-Omni's thinker (``Qwen2_5OmniThinkerForConditionalGeneration``): Qwen2.5-VL's adapter.

The thinker is the text-generating half of Qwen2.5-Omni: Qwen2.5-VL's windowed ViT and 2x2 merger
scatter image features into a Qwen2 text model with 3-D M-RoPE, beside a Whisper-style audio tower
that an image prompt never reaches. Every Qwen2.5-VL rule holds (``qwen2_5_vl.py``: the fixed 16 x 16
square, 448 px here too, patchified ``pixel_values`` with ``image_grid_thw``, explicit positions). What
differs is only the names:

* the image block is ``<|vision_bos|><|IMAGE|><|vision_eos|>`` (the processor's ``vision_bos_token``);
* ``get_rope_index`` takes no ``mm_token_type_ids`` (it finds the image by its token ids and
  ``vision_start_token_id``); its temporal index for a still image is 0 whatever
  ``position_id_per_seconds`` is, as for Qwen2.5-VL.
"""
from __future__ import annotations

import torch

from .adapter import FamilyAdapter
from .qwen2_5_vl import Qwen2_5_VLAdapter
from .qwen3_vl import Qwen3VLAdapter


class Qwen2_5OmniThinkerAdapter(Qwen2_5_VLAdapter):
    model_types = ("qwen2_5_omni_thinker",)

    def image_placeholder(self) -> str:
        return self.processor.vision_bos_token + self.processor.image_token + self.processor.vision_eos_token

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """The processor's prompt plus its 3-D positions from the thinker's own ``get_rope_index``."""
        saved = self.extra_input_names
        self.extra_input_names = ("image_grid_thw",)
        try:
            enc = FamilyAdapter.image_prompt(self, prompt_format)
        finally:
            self.extra_input_names = saved
        with torch.no_grad():
            positions, _ = self.model.model.get_rope_index(enc["input_ids"], image_grid_thw=enc["image_grid_thw"],
                                                           attention_mask=enc["attention_mask"])
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "position_ids": positions}


class Qwen3OmniMoeThinkerAdapter(Qwen2_5OmniThinkerAdapter, Qwen3VLAdapter):
    """Qwen3-Omni's thinker: Omni's prompt and rope call (above) with Qwen3-VL's DeepStack handling: layer l is
    read after the injection, recorded in each result (``qwen3_vl.py``). The MoE text model changes nothing."""

    model_types = ("qwen3_omni_moe_thinker",)
