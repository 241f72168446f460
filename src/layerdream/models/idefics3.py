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
* **Resampling.** Our differentiable resize is bilinear with antialias, the processor's LANCZOS:
  equality holds where no resize is needed (an image at the tile size).
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter
from .processors import share_chat_template

#: added to an image that normalises to exact zeros, so that the model does not drop it as padding
GRAY_LIFT = 2.0**-12


class Idefics3Adapter(FamilyAdapter):
    model_types = ("idefics3", "smolvlm")
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
        self.mean = torch.tensor(ip.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(ip.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        patches = self.image_size // int(vision.patch_size)
        scale = int(model.config.scale_factor)
        if patches % scale:  # the tower's stride-patch conv drops a remainder (SmolVLM 2.2B: 384 px of 14-px patches)
            raise UserError(f"a {self.image_size}-px tile gives {patches}x{patches} patches, which a {scale}x{scale} "
                            "pixel shuffle cannot fold; use the processor saved with the model")
        self._side = patches // scale

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = super().preprocess(images)["pixel_values"]
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
