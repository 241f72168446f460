"""PaliGemma 1/2 (``PaliGemmaForConditionalGeneration``): only what differs from the default adapter.

* **Image tokens first.** PaliGemma's prompt is ``<image>`` x N, then ``<bos>``, the prompt, ``\\n``;
  the processor inserts ``<bos>`` after the last image token itself. The default raw prompt
  (``<bos>`` + placeholder) would therefore carry two BOS, one before the image block that the model
  never saw in training, so the raw image prompt here is the placeholder alone and the processor lays
  it out (``<image>`` x N ``<bos>\\n``: an empty prompt, exactly one BOS).
* **No chat template.** PaliGemma 2 pt and mix checkpoints ship none, so ``chat`` falls back to
  ``raw`` on both sides (the engine says so once); a fine-tuned derivative with a template uses it.
* **Prefix-LM mask via ``token_type_ids``.** 0 marks the prefix (image + prompt), which attends
  bidirectionally; without them the image block is silently causal. They must reach the forward
  (``extra_input_names``); text prompts get zeros, i.e. are read as a prefix too, as PaliGemma reads
  every prompt.
* **Positions start at 1.** The model adds the 1 itself when ``position_ids`` is not given, on the
  text and the image side alike, so nothing here passes positions.
* **Masks are not reusable.** PaliGemma 2 (Gemma 2 text model with sliding-window layers) hands its
  decoder a dict of masks, but ``PaliGemmaModel.forward`` cannot take that dict back as
  ``attention_mask`` (Gemma 3 can), so the prompt's masks are rebuilt on each forward.
* **224/448/896 variants** (256/1024/4096 tokens): SigLIP without pooling, so the grid is
  ``image_size // patch_size`` squared, row-major, read from the vision config; the input size,
  mean and std (0.5) come from the checkpoint's processor.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter


class PaliGemmaAdapter(FamilyAdapter):
    model_types = ("paligemma",)
    extra_input_names = ("token_type_ids",)
    reusable_masks = False

    def __init__(self, model, processor):
        super().__init__(model, processor)
        vision = model.config.vision_config
        self._side = int(vision.image_size) // int(vision.patch_size)
        tokens = getattr(processor, "image_seq_length", self._side**2)
        if tokens != self._side**2 or self.image_size != int(vision.image_size):
            raise UserError(f"this PaliGemma checkpoint's processor ({self.image_size} px, {tokens} image tokens) does not "
                            f"match its vision tower ({vision.image_size} px, {self._side**2} tokens); use the processor "
                            "saved with the model")

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        if prompt_format == "chat":
            return super().image_prompt("chat")
        from PIL import Image

        gray = Image.new("RGB", (self.image_size, self.image_size), (128, 128, 128))
        # the placeholder alone: the processor puts <bos> after the image block and "\n" at the end
        enc = self.processor(text=self.image_placeholder(), images=gray, return_tensors="pt")
        return {name: enc[name] for name in ("input_ids", "attention_mask", *self.extra_input_names)}
