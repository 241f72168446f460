"""Fuyu (``FuyuForCausalLM``: adept/fuyu-8b): only what differs from the default adapter.

* **No vision encoder.** Each 30 x 30 patch's pixels, flattened (row, column, channel), go through one
  linear layer (``vision_embed_tokens``) straight into the decoder's residual stream at the ``|SPEAKER|``
  positions: the image tokens *are* the patches.
* **A fixed square.** ``FuyuImageProcessorPil`` shrinks images larger than 1080 x 1920 (never enlarges),
  pads to that canvas, and the processor crops back to the image rounded up to whole patches. layerdream
  fixes **480 px: 16 x 16 = 256 patches**, a square the processor leaves as it is (no resize; the padding
  is cropped away), so our pixels equal the processor's. ``pixel_values`` is (N x 256, 2700): every
  image's patches, row-major, one after the other (the model scatters them in that order).
* **Row ends and BOS after the image.** The processor writes per patch row 16 ``|SPEAKER|`` and one
  ``|NEWLINE|``, then ``<s>`` *after* the image block, then the text and ``<0x04>`` (beginning of
  answer). There is no chat template: the image prompt is the processor's output for an empty text
  (:attr:`image_placeholder` is ``""``, the processor places the image itself); the grid is the
  ``|SPEAKER|`` tokens, 16 x 16; the newlines are text tokens between rows.
* **Upstream bug worked around (transformers 5.24).** ``FuyuProcessor`` forces ``return_tensors="pt"``
  on its image processor and then hands each torch image to ``FuyuImageProcessorPil.patchify_image``,
  which calls numpy's ``transpose(0, 1, 3, 2, 4)`` on it: every call with an image fails with a
  TypeError. The adapter gives the processor's image processor a ``patchify_image`` that runs the same
  numpy code on the tensor's numpy view and returns a tensor (what ``torch.cat`` after it expects).
"""
from __future__ import annotations

import functools

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, resize_to

TOKENS_PER_SIDE = 16


def _patchify_accepting_tensors(original):
    @functools.wraps(original)
    def patchify_image(image, patch_size=None):
        if torch.is_tensor(image):
            return torch.from_numpy(original(image.cpu().numpy(), patch_size=patch_size)).to(image.device)
        return original(image, patch_size=patch_size)

    patchify_image.layerdream_fix = True
    return patchify_image


class FuyuAdapter(FamilyAdapter):
    model_types = ("fuyu",)
    reusable_masks = False
    #: the image processor pads every picture to its 1080 x 1920 canvas and never enlarges: a photo goes to
    #: the fixed square by PIL with the processor's filter (BILINEAR) instead
    photo_through_processor = False

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        ip = processor.image_processor
        patch = ip.patch_size
        get = patch.get if hasattr(patch, "get") else lambda key: getattr(patch, key)
        self.patch = int(get("height"))
        if int(get("width")) != self.patch or self.patch != int(model.config.patch_size):
            raise UserError(f"this Fuyu processor cuts {get('height')} x {get('width')}-px patches but the model embeds "
                            f"{model.config.patch_size} px; use the processor saved with the model")
        size = ip.size
        sget = size.get if hasattr(size, "get") else lambda key: getattr(size, key)
        self.side = min(TOKENS_PER_SIDE, int(sget("height")) // self.patch, int(sget("width")) // self.patch)
        self.image_size = self.side * self.patch
        mean, std = ip.image_mean, ip.image_std
        mean = [mean] * 3 if isinstance(mean, (int, float)) else mean
        std = [std] * 3 if isinstance(std, (int, float)) else std
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        if not getattr(ip.patchify_image, "layerdream_fix", False):
            ip.patchify_image = _patchify_accepting_tensors(ip.patchify_image)

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def image_placeholder(self) -> str:
        return ""  # the processor puts the image block (and the BOS after it) in front of the text itself

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """The processor's own prompt for an image and no text (Fuyu has no chat template)."""
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        enc = self.processor(text="", images=gray, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = resize_to(images, self.image_size)
        x = (images - self.mean.to(images.device)) / self.std.to(images.device)
        n, p, s = x.shape[0], self.patch, self.side
        patches = x.reshape(n, 3, s, p, s, p).permute(0, 2, 4, 3, 5, 1).reshape(n * s * s, p * p * 3)
        return {"pixel_values": patches}

    def vision_dims(self) -> VisionDims:
        hidden = int(self.model.config.text_config.hidden_size)
        return VisionDims(tokens=self.side * self.side, width=hidden, mlp=0, layers=0, heads=1)
