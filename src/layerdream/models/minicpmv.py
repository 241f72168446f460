"""MiniCPM-V 4.6 / 4.7 and MiniCPM-OCR (``MiniCPMV4_6ForConditionalGeneration``, ``MiniCPMV4_7...``,
``MiniCPMOcr...``): one adapter; the variants differ only where stated.

The image path is shared: a NaViT SigLIP tower takes ``pixel_values`` packed as one (1, 3, p, N·p) strip
of patches with ``target_sizes`` (patch rows, cols) per image; in ``"16x"`` mode a window-attention merger
folds every 2 x 2 window of patches into one token after ViT layer ``insert_layer_id``; the MLP merger
folds 2 x 2 again into the text model's width. The features replace the ``<|image_pad|>`` tokens'
embeddings of a Qwen3.5 hybrid text model (Gated-DeltaNet and full-attention blocks on one residual
stream: layer l is block l's output, as everywhere).

* **One view (slicing fixed).** The processor slices an image whose area exceeds ``scale_resolution``²
  into up to ``max_slice_nums`` crops plus an overview, and scales any other image to about
  ``scale_resolution``² (sides rounded to multiples of patch x merge). A square of side
  ``scale_resolution`` is therefore **one view at the processor's defaults**: no slices, resized to
  itself, ``<image>`` + tokens + ``</image>`` in the prompt. layerdream fixes that square: 448 px, 32 x 32
  patches of 14 px -> **8 x 8 = 64 tokens** in ``"16x"`` (MiniCPM-V 4.6 / 4.7), **16 x 16 = 256** in
  ``"4x"`` (MiniCPM-OCR: no window merger). A checkpoint whose ``scale_resolution`` is not a multiple
  of patch x merge (the square would be rounded up and sliced) is refused in one line.
* **Packed pixels.** :meth:`preprocess` cuts the normalised square into the processor's patch strip
  (``reshape_by_patch``) and concatenates N images along the strip, one ``target_sizes`` row each: the
  model reads ``pixel_values[:1]`` only and splits the strip per image (attention never crosses images).
* **Token order.** The window merger visits 2 x 2 windows row-major and the MLP merger folds the
  resulting grid 2 x 2 row-major again: the tokens form a (side, side) grid row-major (tested).
* **The mode is the model's.** The model merges by ``config.downsample_mode``; the processor counts
  placeholders by its own ``downsample_mode``. They must agree (else the prompt's token count and the
  features differ): checked at load.
* **MiniCPM-V 4.7 only: canvas M-RoPE.** Image tokens take (t, h, w) positions on a 2-D canvas, and the
  ``<image>``/``</image>`` markers are pinned to its corners. The model builds them only when given
  ``mm_token_type_ids`` (it raises without them), and caches ``rope_deltas`` on the module when it does.
  As for Qwen2.5-VL, the positions are built once per prompt with the model's own ``get_rope_index``
  and passed as ``position_ids`` on every call, so the model's position code (and its cache) never runs.
* **MiniCPM-OCR only.** Its image processor adds ``small_image_upsize`` (``"always"`` by default: the
  4.6 arithmetic); ``"adaptive"`` (OpenCV glyph statistics) or ``"never"`` can keep a small image at
  its native size, so a checkpoint saved with either is refused in one line.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, channel_stats
from .processors import share_chat_template
from .qwen2_5_vl import prompt_with_rope_positions


class MiniCPMVAdapter(FamilyAdapter):
    model_types = ("minicpmv4_6", "minicpm_ocr")
    #: the processor's output is a patch strip (and slices for large photos): photos go to the square by PIL
    photo_through_processor = False
    #: Qwen3.5's text model builds its mask dict inside, past the point where VLM could capture it (as Qwen3.5)
    reusable_masks = False

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        share_chat_template(processor)
        ip = processor.image_processor
        name = type(model).__name__.removesuffix("ForConditionalGeneration")
        self.patch = int(ip.patch_size)
        if self.patch != int(model.config.vision_config.patch_size):
            raise UserError(f"this {name} processor cuts {self.patch}-px patches but the model takes "
                            f"{model.config.vision_config.patch_size} px; use the processor saved with the model")
        mode = str(model.config.downsample_mode)
        if str(getattr(ip, "downsample_mode", mode)) != mode:
            raise UserError(f"this {name} processor counts image tokens for downsample_mode={ip.downsample_mode!r} "
                            f"but the model merges {mode!r}; use the processor saved with the model")
        upsize = getattr(ip, "small_image_upsize", "always")
        if upsize != "always":
            raise UserError(f"this {name} processor has small_image_upsize={upsize!r}: the image size then follows the "
                            "picture; layerdream fixes one square and needs 'always' (the default)")
        self.merge = 2 if mode == "4x" else 4  # patches per token side: 2 x 2 merger, after the 2 x 2 window merger in 16x
        unit = self.patch * self.merge
        scale = int(ip.scale_resolution)
        side = max(round(scale / unit), 1) * unit  # the processor's ensure_divide of the square's side
        if side > scale:
            raise UserError(f"this {name} processor's scale_resolution ({scale} px) is not a multiple of "
                            f"{unit} px: its square is rounded up to {side} px and sliced; layerdream needs one view")
        self.image_size = side
        self.side = side // unit
        self.mean, self.std = channel_stats(ip)

    @property
    def grid(self) -> tuple[int, int]:
        return self.side, self.side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = FamilyAdapter.preprocess(self, images)["pixel_values"]  # the square, normalised
        n, c, h, w = x.shape
        p = self.patch
        rows, cols = h // p, w // p
        # each image as the processor's reshape_by_patch: (c, p, rows * cols * p), patches row-major
        strip = x.reshape(n, c, rows, p, cols, p).permute(1, 3, 0, 2, 4, 5).reshape(1, c, p, n * rows * cols * p)
        sizes = torch.tensor([[rows, cols]], dtype=torch.int32, device=x.device).expand(n, 2)
        return {"pixel_values": strip, "target_sizes": sizes}

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        return {"input_ids": prompt["input_ids"].expand(n, -1), "attention_mask": prompt["attention_mask"].expand(n, -1)} | pixels


class MiniCPMV4_7Adapter(MiniCPMVAdapter):
    """MiniCPM-V 4.7: 4.6 plus canvas M-RoPE, passed as explicit ``position_ids`` (module docstring)."""

    model_types = ("minicpmv4_7",)

    def image_prompt(self, prompt_format: str = "chat") -> dict[str, torch.Tensor]:
        return prompt_with_rope_positions(self, super().image_prompt, prompt_format, "target_sizes")

    def forward_inputs(self, prompt: dict[str, torch.Tensor], pixels: dict[str, torch.Tensor], n: int) -> dict:
        return super().forward_inputs(prompt, pixels, n) | {"position_ids": prompt["position_ids"].expand(-1, n, -1)}
