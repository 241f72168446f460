"""InstructBLIP (``InstructBlipForConditionalGeneration``, Vicuna): BLIP-2's adapter, with the prompt's
text fed to the Q-Former too. Only what differs from ``blip2.py``:

* **The queries read the instruction.** InstructBLIP's Q-Former attends to the instruction's tokens
  (``qformer_input_ids``, from its own BERT tokenizer) besides the image, so the image tokens depend on
  the prompt's text. layerdream's image prompt has no text (no concept may leak into the image tokens),
  so the Q-Former sees the empty instruction: what its tokenizer makes of ``""`` (BERT: ``[CLS] [SEP]``).
  Each result records this (``result_notes``), with the flat spatial prior of learned queries.
* ``qformer_input_ids`` / ``qformer_attention_mask`` come from the processor once per prompt and reach
  every forward (``extra_input_names``); text prompts (concept vectors) need none.
* Vicuna checkpoints only: the Flan-T5 ones are encoder-decoder, refused as for BLIP-2.
"""
from __future__ import annotations

import torch

from .blip2 import Blip2Adapter


class InstructBlipAdapter(Blip2Adapter):
    model_types = ("instructblip",)
    extra_input_names = ("qformer_input_ids", "qformer_attention_mask")

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        enc = self.processor(images=gray, text=self.image_placeholder(), return_tensors="pt")
        return {name: enc[name] for name in ("input_ids", "attention_mask", *self.extra_input_names)}

    def text_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def result_notes(self, layer: int) -> dict:
        return {"spatial_prior": "flat: the image tokens are Q-Former query outputs (learned queries), not places",
                "qformer_instruction": "empty (the image prompt has no text)"}
