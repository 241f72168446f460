"""DeepSeek-OCR 2 (``DeepseekOcr2ForConditionalGeneration``): only what differs from the default adapter.

* **Geometry: the processor's global-only case.** At its defaults (``crop_to_patches``, 2-6 tiles) the
  processor cuts a picture larger than ``tile_size`` (768 px) into 768-px local tiles *and* makes a
  global view; a picture of at most 768 px gets the global view only: enlarged (BICUBIC) to ``size``
  (1024 px). layerdream feeds one **768-px square** and reproduces that enlargement with PIL's filter as
  matrices (``models/resample.py``): the model sees the 1024-px global view it sees for any such picture.
* **Image tokens: learned queries.** SAM ViT-B (64 x 64 patches) -> two stride-2 convolutions (16 x 16 =
  256 features) -> a Qwen2-style encoder over [the 256 features, 256 learned queries], bidirectional over
  the features and causal over the queries ("visual causal flow"); the queries' outputs, projected, are
  the image tokens. They are read out in a learned order, not at places: the spatial prior is flat
  (``spatial_layout = False``; the grid is only their count as 16 x 16), recorded in each result.
* **The view separator.** After the 256 query tokens the model writes its learned ``view_separator``
  embedding at a 257th ``<image>`` position: no pixel reaches it, so it is not an image token here.
* **MoE text model.** DeepSeek-V2-style blocks (dense first, then softmax top-k routed experts + shared
  experts): the image tokens' states at layer l include the experts they were routed to; gradients go
  through the chosen experts and their gate weights, not the discrete choice (recorded).
* **No chat template** on the released checkpoint (prompts are ``<image>\\n`` + an OCR instruction):
  layerdream's raw format, ``<bos>`` + ``<image>`` on the image side, no instruction.
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, resize_to
from .resample import filter_name, pil_resize
from .sam import sam_dims


class DeepseekOcr2Adapter(FamilyAdapter):
    model_types = ("deepseek_ocr2",)
    spatial_layout = False

    def __init__(self, model, processor):
        super().__init__(model, processor)
        ip = processor.image_processor
        self.global_size = self._global_size(ip)
        self.image_size = int(ip.tile_size)  # the largest picture the processor does not tile
        if self.image_size > self.global_size:
            raise UserError(f"this processor's tile_size ({self.image_size}) exceeds its global view ({self.global_size} px); "
                            "use the processor saved with the model")
        self._side = self._check_side(model, processor)
        self._filter = filter_name(getattr(ip, "resample", None))

    @staticmethod
    def _global_size(ip) -> int:
        return int(ip.size["height"])  # DeepseekOcr2ImageProcessor: the global view's side

    def _check_side(self, model, processor) -> int:
        """Tokens per side of the global view, as the processor counts them, checked against the model."""
        side = math.ceil(self.global_size / processor.patch_size / processor.downsample_ratio)
        sam = model.config.vision_config.sam_config
        patches = (self.global_size // int(sam.patch_size) // 4) ** 2  # SAM grid after two stride-2 convolutions
        queries = 144 if patches <= 144 else 256  # DeepseekOcr2VisionModel's two query sets
        if side * side != queries:
            raise UserError(f"this DeepSeek-OCR 2 processor writes {side * side} image tokens per global view but the "
                            f"model makes {queries} at {self.global_size} px; use the processor saved with the model")
        return side

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        view = pil_resize(resize_to(images, self.image_size), self.global_size, self.global_size, self._filter)
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return {"pixel_values": (view - mean) / std}

    def image_placeholder(self) -> str:
        return self.processor.image_token

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The query tokens: every ``<image>`` position but the last (the view separator)."""
        positions = (input_ids[0] == self.model.config.image_token_id).nonzero().flatten()
        expected = self._side**2
        if positions.numel() != expected + 1:
            raise RuntimeError(f"found {positions.numel()} image tokens in the prompt, expected {expected} + 1 separator")
        return positions[:-1]

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        enc = vision.encoder_config
        n_sam = (self.global_size // int(vision.sam_config.patch_size) // 4) ** 2
        return sam_dims(vision.sam_config, self.global_size, (n_sam + self._side**2, int(enc.hidden_size),
                                                              int(enc.intermediate_size), int(enc.num_hidden_layers)))

    def result_notes(self, layer: int) -> dict:
        text = self.model.config.text_config
        return {"spatial_prior": "flat: the image tokens are the vision encoder's learned causal-flow queries, not places",
                "moe_routing": f"per-token softmax top-{int(text.num_experts_per_tok)} of {int(text.n_routed_experts)} "
                               "experts + shared experts; gradients through the chosen experts and their gate, "
                               "not the discrete choice"}
