"""Molmo2 (``Molmo2ForConditionalGeneration``: allenai Molmo2-4B / 8B / O-7B): only what differs.

* **Two views, one geometry fixed.** ``Molmo2ImageProcessor`` always sends a global view (the image resized
  to ``size``, 378 px) and a canvas of overlapping ``size``-px crops (stride ``size`` - the overlap margins),
  up to ``max_crops``. For a square of exactly ``size`` the tiling rule picks one crop (the smallest tiling
  whose scale is 1), whose canvas is the square itself: both views are the input, unresized. layerdream
  fixes that square, at the processor's defaults (no option changed): ``pixel_values`` is (2N, 729, 588),
  each view's 27 x 27 patches of 14 px flattened in (row, column, channel) order.
* **Pooling indices.** Each image token pools one 2 x 2 window (``pooling_size``) of a view's patch grid,
  padded with -1 to an even side (27 -> 28: the pad goes after, so the last row and column of tokens pool
  fewer patches); windows row-major, the global view's first, the crop's offset by 729, image n's by n x 1458
  (transformers 5.24; from 5.25 each image's indices start at 0 and the model adds the offsets, which
  :func:`pooling_is_per_image` reads from the model's signature).
  :meth:`preprocess` builds ``image_token_pooling``, ``image_grids`` ([14, 14, 14, 14] per image) and
  ``image_num_crops`` (2) as the processor does; the model's adapter (attention pooling over two ViT layers'
  features) and projector are the model's own.
* **Two image-token blocks: the rule.** The prompt holds ``<low_res_im_start>`` + 14 rows of 14
  ``<im_patch>`` (+ ``<im_col>`` per row, unless ``use_single_crop_col_tokens`` is False as on the hub) +
  ``<im_end>``, then ``<im_start>`` + 14 rows of (14 ``<im_patch>`` + ``<im_col>``) + ``<im_end>``. The
  **crop block (the second) is the grid** the objective aggregates: 14 x 14 ``<im_patch>`` tokens in sequence
  order (the column tokens carry no image feature and are not image tokens). The global view's 196 tokens
  stay in the prompt and the model attends to them, but they are not in the aggregate (as LLaVA-NeXT's base
  view): a spatial prior over two superposed grids would be centred on neither. At this geometry both blocks
  see the same pixels. Recorded in each result (:meth:`result_notes`).
* **Bidirectional image block.** Every image-structure token (both blocks, their start/end and column
  tokens) attends to every other one, via ``mm_token_type_ids`` (a forward without it is causal):
  it is an extra input of the image prompt.
* **Features are added, not substituted**: the model adds each pooled feature to the ``<im_patch>``
  embedding at its position. Layer l is still block l's output.
* **BOS.** ``Molmo2Processor.__call__`` prepends ``bos_token or eos_token`` to every text that lacks it (the hub
  templates do not emit it); concept prompts go through the tokenizer's template, so it gets the same prefix.
"""
from __future__ import annotations

import functools
import json
import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, resize_to
from .processors import share_chat_template


def share_template_with_prefix(processor) -> None:
    """The processor's template for text prompts, with the BOS its ``__call__`` prepends to every text
    (``bos_token or eos_token``) written into the tokenizer's copy where the template does not emit it."""
    share_chat_template(processor)
    tok = processor.tokenizer
    prefix = tok.bos_token or tok.eos_token
    template = getattr(tok, "chat_template", None)
    if not prefix or not isinstance(template, str) or not template:
        return
    shell = tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    if not shell.startswith(prefix):
        tok.chat_template = "{{- " + json.dumps(prefix) + " -}}" + template


@functools.cache
def pooling_is_per_image() -> bool:
    """Whether the installed Molmo2 wants each image's ``image_token_pooling`` to index only that image's
    patches (transformers >= 5.25: the model adds each image's offset from ``image_num_crops``) rather than the
    whole batch's (5.24: the processor added them). Read once from the model's signature, not a version number
    (``preprocess`` runs every synthesis step)."""
    import inspect

    from transformers.models.molmo2 import modeling_molmo2

    return "image_num_crops" in inspect.signature(modeling_molmo2.Molmo2Model.get_image_features).parameters


def pooling_windows(side: int, pool_h: int, pool_w: int) -> torch.Tensor:
    """(tokens, pool_h x pool_w) patch indices of a side x side patch grid, -1 where a window overhangs the
    padded edge (the pad split as floor before, ceil after), windows row-major."""
    rows, cols = math.ceil(side / pool_h), math.ceil(side / pool_w)
    top, left = (rows * pool_h - side) // 2, (cols * pool_w - side) // 2
    r = torch.arange(rows * pool_h) - top
    c = torch.arange(cols * pool_w) - left
    index = r[:, None] * side + c[None, :]
    index[(r < 0) | (r >= side), :] = -1
    index[:, (c < 0) | (c >= side)] = -1
    return index.reshape(rows, pool_h, cols, pool_w).permute(0, 2, 1, 3).reshape(rows * cols, pool_h * pool_w)


class Molmo2Adapter(FamilyAdapter):
    model_types = ("molmo2",)
    extra_input_names = ("mm_token_type_ids",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_template_with_prefix(processor)
        ip = processor.image_processor
        vision = model.config.vision_config
        size = self.image_size
        self.patch = int(ip.patch_size)
        if self.patch != int(vision.patch_size) or list(vision.image_size) != [size, size]:
            raise UserError(f"this Molmo2 processor cuts {size}-px crops of {self.patch}-px patches but the vision tower "
                            f"takes {list(vision.image_size)} px in {vision.patch_size}-px patches; use the processor "
                            "saved with the model")
        grid, crops = ip.get_image_grid_and_crops(size, size)
        if crops != 2:
            raise UserError(f"this Molmo2 processor's settings cut a {size}-px square into {crops - 1} crops; layerdream "
                            "fixes one crop (the square itself) beside the global view")
        self.side = size // self.patch
        self.pool_h, self.pool_w = (int(p) for p in ip.pooling_size)
        self.global_grid, self.crop_grid = (int(grid[0]), int(grid[1])), (int(grid[2]), int(grid[3]))
        windows = pooling_windows(self.side, self.pool_h, self.pool_w)
        if windows.shape[0] != self.global_grid[0] * self.global_grid[1] or self.global_grid != self.crop_grid:
            raise UserError(f"this Molmo2 processor pools a {size}-px view into {grid} tokens, which layerdream does not "
                            "reproduce; use the processor saved with the model")
        per_view = self.side * self.side
        self._windows = torch.cat([windows, torch.where(windows >= 0, windows + per_view, -1)]).to(torch.int32)

    @property
    def grid(self) -> tuple[int, int]:
        return self.crop_grid

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        first = self.global_grid[0] * self.global_grid[1]
        rows, cols = self.crop_grid
        if positions.numel() != first + rows * cols:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {first + rows * cols} "
                               f"(global view {self.global_grid[0]}x{self.global_grid[1]} + crop {rows}x{cols})")
        return positions[first:]

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = resize_to(images, self.image_size)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        x = (images - mean) / std
        n, p, s = x.shape[0], self.patch, self.side
        patches = x.reshape(n, 3, s, p, s, p).permute(0, 2, 4, 3, 5, 1).reshape(n, s * s, p * p * 3)
        pixels = torch.stack([patches, patches], dim=1).reshape(2 * n, s * s, p * p * 3)  # global view, then the crop
        windows = self._windows.to(x.device)
        step = 0 if pooling_is_per_image() else 2 * s * s
        pooling = torch.cat([torch.where(windows >= 0, windows + i * step, -1) for i in range(n)])
        grids = torch.tensor([[*self.global_grid, *self.crop_grid]], dtype=torch.int64, device=x.device).expand(n, -1)
        crops = torch.full((n,), 2, dtype=torch.int64, device=x.device)
        return {"pixel_values": pixels, "image_token_pooling": pooling, "image_grids": grids, "image_num_crops": crops}

    def vision_dims(self) -> VisionDims:
        v = self.model.config.vision_config
        return VisionDims(tokens=2 * self.side * self.side, width=int(v.hidden_size), mlp=int(v.intermediate_size),
                          layers=int(v.num_hidden_layers), heads=int(v.num_attention_heads))

    def result_notes(self, layer: int) -> dict:
        g, c = self.global_grid, self.crop_grid
        return {"image_token_blocks": f"global view {g[0]}x{g[1]} then one {self.image_size}-px crop {c[0]}x{c[1]} (the "
                                      "same pixels at this geometry); aggregated: the crop block; the global view's "
                                      "tokens stay in the prompt (attended to, bidirectional image block), not aggregated"}
