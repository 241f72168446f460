"""PP-Chart2Table (``model_type`` ``pp_chart2table``, loaded as ``GotOcr2ForConditionalGeneration``): GOT-OCR
2.0's architecture and adapter (``got_ocr2.py``: 1024 px, SAM ViT-B, 16 x 16 = 256 image tokens). Only what differs:

* **The template writes the image block.** ``PPChart2TableProcessor`` expands no placeholder (it has no
  ``image_token``): its chat template writes ``<img>`` + 256 ``<imgpad>`` + ``</img>`` itself, after a fixed
  system line and before a fixed "Chart to table" instruction. The instruction follows the image tokens, so
  (causal attention) it cannot reach their states; the system line is the same text on every image. The
  block's length is the template's, not the tower's: a processor whose ``size`` no longer gives the
  template's count (say 512 px: 8 x 8 tokens against 256 written) is refused in one line.
* **Raw prompts** (a checkpoint saved without the template) write the block out the same way.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .got_ocr2 import GotOcr2Adapter


class PPChart2TableAdapter(GotOcr2Adapter):
    model_types = ("pp_chart2table",)

    def image_placeholder(self) -> str:
        rows, cols = self.grid
        token = self.processor.tokenizer.convert_ids_to_tokens(int(self.model.config.image_token_id))
        return "<img>" + token * (rows * cols) + "</img>"

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        rows, cols = self.grid
        if positions.numel() != rows * cols:
            raise UserError(f"this PP-Chart2Table prompt holds {positions.numel()} image tokens but the vision tower "
                            f"gives {rows * cols} at {self.image_size} px ({rows}x{cols}); the chat template writes the "
                            "image block itself, so keep the processor's size at the one the template was written for")
        return positions
