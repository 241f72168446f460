"""Idefics3 and SmolVLM / SmolVLM2 (``Idefics3ForConditionalGeneration``,
``SmolVLMForConditionalGeneration``): only what differs from the default adapter.

* **One tile, fixed.** The processor resizes an image to ``size["longest_edge"]`` (4 x the tile in
  the released checkpoints) and splits it into tiles of ``max_image_size`` plus a global image:
  17 images of 169 (Idefics3) or 64 (SmolVLM2-256M/500M) tokens for a square picture, with
  ``<row_i_col_j>`` markup. layerdream fixes one geometry: the picture *is* the global image, one
  tile of ``max_image_size`` (364 px Idefics3, 512 px SmolVLM2-256M/500M, 384 px SmolVLM2-2.2B) with
  the prompt ``<fake_token_around_image><global-img><image> x N<fake_token_around_image>``
  (``do_image_splitting=False`` for the prompt). This is what the processor gives a picture no
  larger than one tile.
* **5-D pixels.** ``pixel_values`` is (batch, images, 3, H, W): one image per prompt here. No
  ``pixel_attention_mask``: an unpadded tile's mask is all ones, which the model builds itself.
* **An all-zero image is dropped.** ``get_image_features`` treats an image whose normalised pixels
  are all exactly 0.0 as padding and removes it, and the forward then fails on a token/feature count
  mismatch. Mean = std = 0.5 makes uniform 0.5 gray exactly zero: the DAS start, the gray reference
  that centres the image tokens, any gray test image. :meth:`preprocess` therefore lifts an image
  that normalises to all zeros by ``GRAY_LIFT`` (2^-12 in normalised units, 1/32 of a uint8 step),
  which keeps it; every other image passes unchanged, and the gradient is untouched. (A fp32 image
  in [0, 1] never normalises to values so small that a bf16/fp16 cast would flush them to zero:
  the smallest nonzero one is ~1e-7.)
* **Pixel shuffle.** The connector folds ``scale_factor`` x ``scale_factor`` patches into one token
  and keeps row-major order, so the grid is ``(tile // patch) // scale_factor`` squared: 13x13 for
  Idefics3 (364/14, shuffle 2), 8x8 for SmolVLM(2)-256M/500M (512/16, 4), 9x9 for SmolVLM(2)-2.2B
  (384 px of 14-px patches: the tower's conv drops the last 6 px, 27/3).
* **One template on both sides.** Repos that keep the processor's template in the legacy
  ``chat_template.json`` leave the tokenizer (concept prompts) with none or its base model's own;
  the tokenizer gets the processor's (``processors.share_chat_template``).
* **The processor's resize, reproduced.** At its defaults (``do_resize=True``) the processor resizes
  every picture, a tile-sized one included, so that its longest edge is ``size["longest_edge"]``
  (4 x the tile in the released configs: 364 -> 1456, 512 -> 2048), then (one tile) to the tile, both
  with LANCZOS: a low-pass even for a picture that already has the tile size (without it, layer-1
  states differ from the processor's by 23 % on a random picture, tests/models/test_idefics3.py).
  :meth:`preprocess` does the same two resizes as PIL's LANCZOS matrices (``models/resample.py``),
  from whatever size the picture has (the synthesis canvas goes up to ``longest_edge`` directly, as
  the saved PNG would): the processor's ``pixel_values`` to about one uint8 step (PIL rounds to 8 bits
  after each pass). The round trip is checkpointed (recomputed in the backward) in chunks of a few
  pictures, so it keeps no ``longest_edge``-sized activations (2 x 50 MB per picture at 2048 px);
  one chunk's, at most ~256 MB, exist at a time. Its matrices are banded and applied by bands: a
  512 -> 2048 -> 512 round trip is 2.8 GFLOP per picture forward (32 dense).
  The torchvision backend of the processor falls back to BICUBIC where its LANCZOS is unavailable
  (CUDA, torchvision < 0.27); layerdream reproduces the PIL backend's LANCZOS.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, channel_stats
from .processors import share_chat_template
from .resample import filter_name, pil_resize

#: added to an image that normalises to exact zeros, so that the model does not drop it as padding
GRAY_LIFT = 2.0**-12
#: the processor's cap on the resized picture (``MAX_IMAGE_SIZE`` in transformers' Idefics3/SmolVLM processors)
MAX_IMAGE_SIZE = 4096
#: at most this many values in the enlarged pictures resized at once (and recomputed at once in the backward)
CHUNK_VALUES = 64 * 2**20


def _get(size, key: str):
    return size.get(key) if hasattr(size, "get") else getattr(size, key, None)


def longest_edge_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(height, width) the processor resizes an H x W picture to for ``size={"longest_edge": longest}``:
    the longest edge to ``longest``, the other by the aspect ratio (truncated, then made even), both
    capped at ``MAX_IMAGE_SIZE`` (same arithmetic as the processor's, tested against it)."""
    aspect = width / height
    if width >= height:
        width, height = longest, int(longest / aspect)
        height += height % 2
    else:
        height, width = longest, int(longest * aspect)
        width += width % 2
    aspect = width / height
    if width >= height and width > MAX_IMAGE_SIZE:
        width, height = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE / aspect)
    elif height > width and height > MAX_IMAGE_SIZE:
        height, width = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE * aspect)
    return max(height, 1), max(width, 1)


class Idefics3Adapter(FamilyAdapter):
    model_types = ("idefics3", "smolvlm")
    #: a photo is resized to the tile with LANCZOS, then :meth:`preprocess` does the processor's round trip
    photo_through_processor = False
    #: processor options that fix one tile (used for every prompt built through the processor)
    one_tile = {"do_image_splitting": False}

    def __init__(self, model, processor):
        ip = processor.image_processor
        tile = (getattr(ip, "max_image_size", None) or {}).get("longest_edge")
        vision = model.config.vision_config
        if not tile:
            raise UserError("this Idefics3/SmolVLM processor has no max_image_size; use the processor saved with the model")
        self.model, self.processor = model, processor
        share_chat_template(processor)  # text prompts use the template the image prompt uses
        self.image_size = int(tile)
        self.mean, self.std = channel_stats(ip)
        patches = self.image_size // int(vision.patch_size)
        scale = int(model.config.scale_factor)
        if patches % scale:  # the tower's stride-patch conv drops a remainder (SmolVLM 2.2B: 384 px of 14-px patches)
            raise UserError(f"a {self.image_size}-px tile gives {patches}x{patches} patches, which a {scale}x{scale} "
                            "pixel shuffle cannot fold; use the processor saved with the model")
        self._side = patches // scale

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def resized(self, images: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) in [0,1] -> (N,3,tile,tile) as the processor resizes them with one tile: to the
        ``longest_edge`` geometry (when ``do_resize``), then to the tile, with its own filter."""
        ip = self.processor.image_processor
        name = filter_name(getattr(ip, "resample", None))
        tile = self.image_size
        longest = _get(ip.size, "longest_edge") if getattr(ip, "do_resize", False) else None

        if images.shape[-2:] == (tile, tile) and not longest:
            return images
        big = longest_edge_size(images.shape[-2], images.shape[-1], int(longest)) if longest else (tile, tile)

        def chunk(x: torch.Tensor) -> torch.Tensor:
            return pil_resize(pil_resize(x, *big, name), tile, tile, name) if longest else pil_resize(x, tile, tile, name)

        # pictures per chunk: the enlarged intermediates of a chunk stay under ~64 M values (256 MB fp32)
        per_chunk = max(1, CHUNK_VALUES // (images.shape[1] * big[0] * big[1]))
        if not (torch.is_grad_enabled() and images.requires_grad):
            return torch.cat([chunk(x) for x in images.split(per_chunk)])
        from torch.utils.checkpoint import checkpoint  # keep no enlarged activations for the backward

        return torch.cat([checkpoint(chunk, x, use_reentrant=False) for x in images.split(per_chunk)])

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = self.resized(images)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        pixels = (images - mean) / std
        exact_zero = (pixels == 0).flatten(1).all(dim=1).view(-1, 1, 1, 1)
        pixels = pixels + exact_zero.to(pixels.dtype) * GRAY_LIFT
        return {"pixel_values": pixels.unsqueeze(1)}  # (N, 1 image, 3, H, W)

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """The base prompt with one tile: the processor would split the gray image into 4x4 + 1 otherwise."""
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        if prompt_format == "chat":
            enc = self.processor.apply_chat_template(self.image_messages(gray), add_generation_prompt=True, tokenize=True,
                                                     return_dict=True, return_tensors="pt", processor_kwargs=dict(self.one_tile))
        else:
            text = (self.processor.tokenizer.bos_token or "") + self.image_placeholder()
            enc = self.processor(text=text, images=gray, return_tensors="pt", add_special_tokens=False, **self.one_tile)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
