"""GIT (``GitForCausalLM``): one BERT-style stack over [image tokens, text]. Only what differs from the
default adapter:

* **No placeholders: the image is a prefix.** ``GitModel`` puts the projected CLIP features of every patch
  and of the ViT's CLS (``(S/p)^2 + 1`` tokens, Linear + LayerNorm, no position embedding) *in front of* the
  text embeddings, so the input ids hold only the text (``[CLS] [SEP]`` for empty text); the image positions
  are the first ``(S/p)^2 + 1`` positions of the stack's sequence.
* **Layer l is clear.** There is one residual stream, the stack's: layer l is the output of its block l
  (``hidden_states[l]``, post-LN BERT blocks; no final norm). The image prefix is bidirectional and the text
  causal after it, so the image tokens never see the text: their states are a function of the image alone.
* **The rule for the ViT's CLS.** The prefix starts with the ViT's CLS feature, which is not a place in
  the image: the image tokens layerdream aligns are the ``(S/p)^2`` patch positions after it (a row-major
  grid, so the spatial prior applies), and each result records that the CLS position is left out.
* **No ``.model``, no ``.layers``.** :attr:`backbone` is ``model.git`` (never the LM head), :attr:`decoder`
  names ``git.encoder.layer`` as the layers. No chat template: prompts are raw (BERT's ``[CLS] ... [SEP]``;
  GIT itself generates after ``[CLS]``).
* Video checkpoints (``num_image_with_embedding``: temporal embeddings over 5-D pixels) are refused.
"""
from __future__ import annotations

import types

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims


class GitAdapter(FamilyAdapter):
    model_types = ("git",)
    reusable_masks = False  # GitModel builds its mask (bidirectional image block) itself on each call

    def __init__(self, model, processor):
        if model.config.num_image_with_embedding is not None:
            raise UserError("this GIT checkpoint is a video model (num_image_with_embedding = "
                            f"{model.config.num_image_with_embedding} temporal embeddings over frames); layerdream "
                            "supports the image GIT checkpoints (microsoft/git-base, git-large, their COCO/TextCaps fine-tunes)")
        super().__init__(model, processor)
        crop = getattr(processor.image_processor, "crop_size", None)
        if crop is not None and getattr(processor.image_processor, "do_center_crop", False):
            get = crop.get if hasattr(crop, "get") else lambda key: getattr(crop, key, None)
            self.image_size = int(get("height"))
        vision = model.config.vision_config
        if self.image_size != int(vision.image_size):
            raise UserError(f"this GIT processor gives {self.image_size}-px images but its vision tower takes "
                            f"{vision.image_size} px; use the processor saved with the model")
        side = self.image_size // int(vision.patch_size)
        self._grid = (side, side)
        self.backbone = model.git
        self.decoder = types.SimpleNamespace(layers=model.git.encoder.layer)

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    def has_chat_template(self) -> bool:
        return False

    def image_placeholder(self) -> str:
        return ""  # the image is a prefix of the stack's sequence, not a text placeholder

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        enc = self.processor(images=gray, text=self.image_placeholder(), return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The patch positions of the prefix, after the ViT's CLS at 0 (positions in the stack's sequence,
        which is the prefix then ``input_ids``)."""
        rows, cols = self._grid
        return torch.arange(1, 1 + rows * cols)

    def vision_dims(self) -> VisionDims:
        v = self.model.config.vision_config
        return VisionDims(tokens=self._grid[0] * self._grid[1] + 1, width=int(v.hidden_size), mlp=int(v.intermediate_size),
                          layers=int(v.num_hidden_layers), heads=int(v.num_attention_heads))

    def result_notes(self, layer: int) -> dict:
        return {"image_prefix": f"image tokens = the {self._grid[0] * self._grid[1]} patch positions of GIT's image prefix "
                                "(the ViT CLS position before them left out); the prefix is bidirectional and never sees the text"}
