"""LLaVA-NeXT (``LlavaNextForConditionalGeneration``): only what differs from the default adapter.

* **Anyres fixed to one geometry.** LLaVA-NeXT picks a tile canvas per image from its
  ``image_grid_pinpoints`` and sends a base view (the image resized to the tower's size S) plus the
  canvas' S-px tiles; how many tokens follow depends on ``image_sizes``. layerdream always feeds one
  square image at exactly S (336 px for the CLIP-L/336 models) with ``image_sizes`` = (S, S). The
  model's own rule (``select_best_resolution``) then picks the smallest canvas that holds it without
  resizing (336x672 for LLaVA-1.6: the image centred on black padding, cut into two tiles), and the
  model unpads the tile features back to the image's S/14 x S/14 patches. Everything the processor
  does is reproduced in torch without resampling: normalise the base view, pad the canvas with
  black, cut the tiles, and ``pixel_values`` is (N, 1 + tiles, 3, S, S), equal to the processor's. A
  checkpoint whose pinpoints would resize an S-px square is refused in one line.
* **Newline tokens, and which block is the grid.** The image block is the base view's g x g tokens
  (g = S / patch), then the unpadded anyres map row by row, each row closed by the learned
  ``image_newline`` token: g x (g + 1). That second block is the one the language model reads as a
  laid-out 2-D map, so it is the grid the objective aggregates: (g, g + 1) in sequence order, the
  newline token as the last column of every row (the spatial prior gives that edge column little
  weight). The base view's tokens stay in the prompt (the model attends to them; they are not in the
  aggregate): a spatial prior over two superposed grids would not be centred on either.
* **CLIP features from layer -2 with CLS dropped** (the model applies ``vision_feature_layer`` and the
  select strategy); the tower runs once per view, so the memory model counts 1 + tiles passes.
* **Template and BOS as LLaVA-1.5** (``llava.py``): the template may live only in the processor's
  legacy file, and the tokenizer adds ``<s>`` (Mistral/Vicuna variants).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, resize_to
from .llava import crop_size
from .processors import share_chat_template


class LlavaNextAdapter(FamilyAdapter):
    model_types = ("llava_next",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        config = model.config
        vision = config.vision_config
        side = int(vision.image_size)
        self.image_size = side
        tile = crop_size(processor.image_processor) or self._processor_side(processor.image_processor)
        if tile != side:
            raise UserError(f"this {type(model).__name__} checkpoint's processor makes {tile}-px tiles but its vision tower "
                            f"takes {side} px; use the processor saved with the model")
        self._g = side // int(vision.patch_size)
        self._canvas, self._pad = self._fixed_canvas(config, processor.image_processor)

    @staticmethod
    def _processor_side(image_processor) -> int:
        size = image_processor.size
        get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
        return int(get("height") or get("shortest_edge"))

    def _fixed_canvas(self, config, image_processor) -> tuple[tuple[int, int], tuple[int, int]]:
        """The canvas (H, W) the model's rule picks for an S x S image, and the black padding
        (top, left) that centres the image on it; refused if the image would have to be resized."""
        from transformers.image_processing_utils import select_best_resolution

        side = self.image_size
        model_pins = [tuple(p) for p in config.image_grid_pinpoints]
        processor_pins = [tuple(p) for p in getattr(image_processor, "image_grid_pinpoints", None) or model_pins]
        canvas = select_best_resolution((side, side), model_pins)
        if select_best_resolution((side, side), processor_pins) != tuple(canvas):
            raise UserError("this checkpoint's processor and model disagree on the anyres canvas of a "
                            f"{side}-px image; use the processor saved with the model")
        height, width = canvas
        if height % side or width % side or min(height, width) != side:
            raise UserError(f"this checkpoint's anyres pinpoints would resize a {side}-px square to {height}x{width}; "
                            "layerdream fixes the input to one tile-sized square and needs a pinpoint with a side of "
                            f"{side} px")
        return (height, width), ((height - side) // 2, (width - side) // 2)

    # -- geometry ------------------------------------------------------------------------------
    @property
    def grid(self) -> tuple[int, int]:
        return self._g, self._g + 1  # the anyres map; its last column is the newline token

    @property
    def tiles(self) -> int:
        return (self._canvas[0] // self.image_size) * (self._canvas[1] // self.image_size)

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        rows, cols = self.grid
        expected = self._g**2 + rows * cols
        if positions.numel() != expected:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {expected} "
                               f"(base {self._g}x{self._g} + anyres {rows}x{cols} with newlines)")
        return positions[self._g**2:]

    # -- pixels ----------------------------------------------------------------------------------
    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        side = self.image_size
        images = resize_to(images, side)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        (height, width), (top, left) = self._canvas, self._pad
        canvas = F.pad(images, (left, width - side - left, top, height - side - top), value=0.0)  # black, then normalised
        views = [images] + [canvas[..., r:r + side, c:c + side] for r in range(0, height, side) for c in range(0, width, side)]
        pixels = (torch.stack(views, dim=1) - mean.unsqueeze(1)) / std.unsqueeze(1)
        sizes = torch.tensor([[side, side]], device=images.device).expand(images.shape[0], -1)
        return {"pixel_values": pixels, "image_sizes": sizes}

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        per_view = self._g**2 + int("clip" in getattr(vision, "model_type", ""))
        return VisionDims(tokens=(1 + self.tiles) * per_view, width=int(vision.hidden_size), mlp=int(vision.intermediate_size),
                          layers=int(vision.num_hidden_layers), heads=int(vision.num_attention_heads))
