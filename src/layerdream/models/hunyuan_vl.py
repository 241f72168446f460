"""HunYuan-VL (``HunYuanVLForConditionalGeneration``): Qwen2.5-VL's adapter with the merger's extra tokens.

What holds from ``qwen2_5_vl.py``: native resolution fixed to a 16 x 16-token square (512 px for patch
16 / merge 2, inside the processor's pixel bounds, where ``smart_resize`` is the identity), flattened
patches with ``image_grid_thw``, explicit multi-axis M-RoPE ``position_ids`` from the model's own
``get_rope_index``, the processor's template on both sides.

What differs:

* **Patch order.** Patches are row-major over the whole image (not Qwen's 2 x 2 merge windows): the
  merger is a stride-2 convolution over the patch grid, so it needs them in place.
* **Extra image tokens.** The merger appends a learned newline token to every row and puts a learned
  begin and end token around the image, all at ``<img>`` positions: 16 x 17 + 2 = 274 tokens. The
  objective reads the 16 x 17 block (rows with their newline, as LLaVA-NeXT's anyres map; the spatial
  prior gives the edge column little weight); begin and end stay in the prompt but out of the aggregate.
* The image block is ``<img_start><img><img_end>`` (the processor refuses other layouts).
"""
from __future__ import annotations

import torch

from .qwen2_5_vl import Qwen2_5_VLAdapter, row_major_patches


class HunYuanVLAdapter(Qwen2_5_VLAdapter):
    model_types = ("hunyuan_vl",)
    vision_block_terms = (1, 6)  # plain-MLP ViT block: the memory model's generic term (not measured)

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side + 1  # each row ends with the merger's newline token

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        patches, grid_thw = row_major_patches(self, images)
        return {"pixel_values": patches.flatten(1), "image_grid_thw": grid_thw}

    def image_placeholder(self) -> str:
        return self.processor.image_start_token + self.processor.image_token + self.processor.image_end_token

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        rows, cols = self.grid
        if positions.numel() != rows * cols + 2:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {rows * cols + 2} "
                               f"(begin + {rows}x{cols} with newlines + end)")
        return positions[1:-1]
