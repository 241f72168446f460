"""InstructBLIP-Video (``InstructBlipVideoForConditionalGeneration``, Vicuna): InstructBLIP's adapter on
single images. Only what differs from ``instructblip.py``:

* **An image is 4 equal frames.** The model runs the ViT and the Q-Former per frame and writes each frame's
  ``num_query_tokens`` query outputs one block after the other; its processor always writes 4 frames' worth
  of ``<video>`` tokens (``num_query_tokens`` x 4, before the BOS), whatever it is given. layerdream feeds its
  image as 4 identical frames: :meth:`preprocess` makes what the processor makes of one image (one frame,
  ``(N, 1, 3, S, S)``, which the model alone cannot take: it finds 4 x Q ``<video>`` tokens for Q features),
  and :meth:`forward_inputs` repeats that frame 4 times (an expanded view, so all four gradients reach the one
  image). The image tokens are all ``4 x num_query_tokens`` positions: the same queries
  4 times at the embedding, different at layer l (each block reads the blocks before it). The spatial prior
  is flat (learned queries), and each result records both rules (``result_notes``).
* **Pixels from the video processor's settings.** Its only pixel processor is the torchvision-only
  ``InstructBlipVideoVideoProcessor`` (resize to ``size``, BICUBIC; rescale; CLIP mean/std): a square at
  ``size`` passes its resize unchanged, so :meth:`preprocess` is the default normalisation. The adapter
  reads ``size`` and mean/std from the processor's video slot (the real class, or layerdream's images-only
  stand-in where torchvision is missing) and builds the image prompt without it: the processor's text
  encoding of ``""`` with the ``<video>`` block in front, as its ``__call__`` concatenates them.
* **Upstream bug worked around (transformers 5.24).** When the tokenizer names a ``video_token`` the processor
  keeps the string, and its ``__call__`` reads ``video_token.content`` (AttributeError on any call with
  images): wrapped in an ``AddedToken`` (same text), as for BLIP-2's ``image_token``.
"""
from __future__ import annotations

import math
import types

import torch

from .instructblip import InstructBlipAdapter

FRAMES = 4  # fixed by the processor (and the model's own generate): "video has frames=4 always"


class InstructBlipVideoAdapter(InstructBlipAdapter):
    model_types = ("instructblipvideo",)
    photo_through_processor = False  # a video processor: photos go straight to the square, with its filter

    def __init__(self, model, processor):
        # BLIP-2's checks read the image slot's geometry and the query count: give them the video slot's
        super().__init__(model, types.SimpleNamespace(image_processor=processor.video_processor,
                                                      num_query_tokens=processor.num_query_tokens))
        tokens = self._grid[0] * self._grid[1] * FRAMES  # the frames' blocks one after the other
        rows = math.isqrt(tokens)
        while tokens % rows:
            rows -= 1
        self._grid = (rows, tokens // rows)
        self.queries = int(model.config.num_query_tokens)
        self.processor = processor
        token = processor.video_token
        if isinstance(token, str):  # upstream bug (5.24): __call__ reads video_token.content
            from tokenizers import AddedToken

            processor.video_token = AddedToken(token, normalized=False, special=True)

    def photo_resample(self) -> int:
        resample = self.processor.video_processor.resample
        return int(getattr(resample, "value", resample))

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        enc = self.processor(text=self.image_placeholder())  # the text side only: no frames needed for the ids
        block = self.processor.tokenizer(self.processor.video_token.content * self.queries * FRAMES, add_special_tokens=False)
        ids = block["input_ids"] + enc["input_ids"][0]
        mask = block["attention_mask"] + enc["attention_mask"][0]
        return {"input_ids": torch.tensor([ids]), "attention_mask": torch.tensor([mask]),
                "qformer_input_ids": torch.tensor(enc["qformer_input_ids"]),
                "qformer_attention_mask": torch.tensor(enc["qformer_attention_mask"])}

    def image_placeholder(self) -> str:
        return ""

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, 1 frame, 3, S, S): what the processor makes of one image."""
        return {"pixel_values": super().preprocess(images)["pixel_values"].unsqueeze(1)}

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        """The one frame repeated to the 4 frames the prompt holds tokens for (an expanded view: one gradient)."""
        frames = pixels["pixel_values"].expand(-1, FRAMES, -1, -1, -1)
        return super().forward_inputs(prompt, pixels | {"pixel_values": frames}, n)

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = (input_ids[0] == self.model.config.video_token_id).nonzero().flatten()
        expected = self.grid[0] * self.grid[1]
        if positions.numel() != expected:
            raise RuntimeError(f"found {positions.numel()} video tokens in the prompt, expected {expected}")
        return positions

    def result_notes(self, layer: int) -> dict:
        return super().result_notes(layer) | {
            "frames": f"the image as {FRAMES} equal frames (the processor's fixed count); image tokens: all "
                      f"{FRAMES} x {self.queries} query outputs, frame by frame"}
