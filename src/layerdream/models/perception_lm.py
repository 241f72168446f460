"""PerceptionLM (``PerceptionLMForConditionalGeneration``: facebook Perception-LM-1B / 3B / 8B): only what differs.

* **One tile fixed.** ``PerceptionLMImageProcessor`` defaults to ``vision_input_type="thumb+tile"``: a thumbnail
  (the image resized to ``tile_size``, 448 px) plus the image enlarged onto the *largest* canvas of up to
  ``max_num_tiles`` (36) tiles that it fits without shrinking, cut into tiles: a square picture always gets the
  6 x 6 canvas, 37 tiles x 256 tokens. layerdream fixes **one tile** (``vision_input_type="vanilla"``, the
  processor's own single-tile mode, which is the thumbnail alone): a ``tile_size`` square, neither resized nor
  padded. ``pixel_values`` is (N, 1, 3, S, S): one tile per image, which the model flattens.
* **Tokens.** The tower is a timm Perception Encoder (``TimmWrapperModel``; the real class needs timm): its
  CLS token is dropped (``vision_use_cls_token``), the projector's MLP runs per patch, then a 2 x 2 adaptive
  average pool (``projector_pooling_ratio``): (448 / 14 / 2)^2 = **16 x 16 = 256 image tokens** in row-major
  order, at the ``<|image|>`` positions (``config.image_token_id``). The processor counts the same tokens from
  its own ``patch_size`` and ``pooling_ratio``: a processor that disagrees with the model is refused on load.
* **Normalisation.** mean = std = 0.5 on the released checkpoints (read from the processor, as every family).
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims


class PerceptionLMAdapter(FamilyAdapter):
    model_types = ("perception_lm",)
    #: the processor's single-tile mode: the thumbnail only (its default adds a 6 x 6 canvas of tiles)
    one_tile = {"vision_input_type": "vanilla"}

    def __init__(self, model, processor):
        super().__init__(model, processor)
        ip = processor.image_processor
        self.image_size = int(ip.tile_size)  # ``size`` is kept "for backward compatibility" only; tiles are tile_size
        config = model.config
        tower = model.model.vision_tower.timm_model
        patch = int(tower.patch_embed.patch_size[0])
        expected = tuple(int(s) for s in tower.patch_embed.img_size)
        if expected != (self.image_size, self.image_size):
            raise UserError(f"this PerceptionLM processor cuts {self.image_size}-px tiles but the vision tower takes "
                            f"{expected[0]} x {expected[1]} px; use the processor saved with the model")
        if int(processor.patch_size) != patch:
            raise UserError(f"this PerceptionLM processor counts {processor.patch_size}-px patches but the vision "
                            f"tower cuts {patch} px; use the processor saved with the model")
        ratio = max(int(config.projector_pooling_ratio), 1)
        if int(processor.pooling_ratio) != ratio:
            raise UserError(f"this PerceptionLM processor pools {processor.pooling_ratio} x {processor.pooling_ratio} "
                            f"patches per token but the projector pools {ratio} x {ratio}; use the processor saved "
                            "with the model")
        if not config.vision_use_cls_token or getattr(tower, "cls_token", None) is None \
                or int(getattr(tower, "num_prefix_tokens", 1)) != 1:
            raise UserError("layerdream supports PerceptionLM towers with one CLS token, which the model drops "
                            "(vision_use_cls_token), as released; this checkpoint's tower differs")
        side = self.image_size // patch
        if side % ratio:
            raise UserError(f"a {self.image_size}-px tile of {patch}-px patches does not pool evenly by {ratio}")
        self.side = side // ratio

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixel_values": super().preprocess(images)["pixel_values"][:, None]}  # (N, 1 tile, 3, S, S)

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        """The prompt with one tile: the processor would add 36 more for the gray square otherwise."""
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        if prompt_format == "chat":
            enc = self.processor.apply_chat_template(self.image_messages(gray), add_generation_prompt=True,
                                                     tokenize=True, return_dict=True, return_tensors="pt",
                                                     processor_kwargs=dict(self.one_tile))
        else:
            text = (self.processor.tokenizer.bos_token or "") + self.image_placeholder()
            enc = self.processor(text=text, images=gray, return_tensors="pt", add_special_tokens=False,
                                 **self.one_tile)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def vision_dims(self) -> VisionDims:
        tower = self.model.model.vision_tower.timm_model
        block = tower.blocks[0]
        patch = int(tower.patch_embed.patch_size[0])
        return VisionDims(tokens=(self.image_size // patch) ** 2 + 1, width=int(tower.embed_dim),
                          mlp=int(block.mlp.fc2.in_features), layers=len(tower.blocks),
                          heads=int(block.attn.num_heads))
