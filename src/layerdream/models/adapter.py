"""The family adapter: the one place that knows how a VLM family takes an image.

Everything generic (early exit, the residual at layer ℓ, text batches) lives in :class:`VLM`;
a family subclasses :class:`FamilyAdapter` and overrides only what differs: its preprocessing, the
extra inputs its forward needs, and its token grid. Gemma 3 is ``models/gemma3.py``; adding
InternVL or LLaVA is one small file of the same shape plus one line in ``registry.py``.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import UserError


class FamilyAdapter:
    """Defaults that fit any processor with a square ``size`` and per-channel mean/std."""

    model_types: ClassVar[tuple[str, ...]] = ()
    #: inputs from the processor's output that the forward must receive (beyond ids and mask)
    extra_input_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor
        ip = processor.image_processor
        size = ip.size
        if isinstance(size, int):
            self.image_size = size
        else:  # a dict in older processors, a SizeDict in transformers 5
            get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
            self.image_size = int(get("height") or get("shortest_edge"))
        self.mean = torch.tensor(ip.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(ip.image_std, dtype=torch.float32).view(1, 3, 1, 1)

    # -- what a family overrides -------------------------------------------------------------
    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of image tokens, row-major, as they sit in the sequence."""
        raise NotImplementedError

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Differentiable stand-in for the HF image processor: images (N,3,H,W) in [0,1]."""
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            # antialias matches PIL's resampling to ~1 uint8 step when shrinking (notes section 5)
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False, antialias=images.shape[-1] > self.image_size)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return {"pixel_values": (images - mean) / std}

    def image_messages(self, image) -> list[dict]:
        """The image-only user turn: no text, so no concept can leak into the image tokens."""
        return [{"role": "user", "content": [{"type": "image", "image": image}]}]

    def image_placeholder(self) -> str:
        """The text the processor expands into the image-token block (raw prompts only)."""
        return self.processor.image_token

    def has_chat_template(self) -> bool:
        return bool(getattr(self.processor, "chat_template", None))

    # -- generic -----------------------------------------------------------------------------
    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """Token ids (1, T) of the image prompt, built once through the real processor.

        ``chat``: the processor's own ``apply_chat_template(..., tokenize=True)``, which knows that the
        template already holds ``<bos>`` (rendering to text and tokenising again adds a second one,
        which moves the image tokens' states by 20-40 % in mid layers of a real Gemma 3).
        ``raw`` (pretrained checkpoints without a template): ``<bos>`` + the image placeholder, the
        same shape as the text side's raw prompt ``<bos>`` + word.
        """
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        if prompt_format == "chat":
            enc = self.processor.apply_chat_template(self.image_messages(gray), add_generation_prompt=True,
                                                     tokenize=True, return_dict=True, return_tensors="pt")
        else:
            text = (self.processor.tokenizer.bos_token or "") + self.image_placeholder()
            enc = self.processor(text=text, images=gray, return_tensors="pt", add_special_tokens=False)
        prompt = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        for name in self.extra_input_names:
            prompt[name] = enc[name]
        return prompt

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Sequence positions of the image tokens in a (1, T) prompt."""
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        expected = self.grid[0] * self.grid[1]
        if positions.numel() != expected:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {expected}")
        return positions


class TextOnlyAdapter:
    """For language-model-only checkpoints: concept vectors work, image synthesis does not."""

    image_size = 0
    grid = (0, 0)

    def __init__(self, model, processor):
        self.model = model

    def _no_images(self, *args, **kwargs):
        raise UserError("this checkpoint has no vision tower (text-only); use a VLM for image synthesis")

    preprocess = image_prompt = image_positions = _no_images
