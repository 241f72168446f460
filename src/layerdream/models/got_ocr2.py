"""GOT-OCR 2.0 (``GotOcr2ForConditionalGeneration``): only what differs from the default adapter.

* **Geometry.** One square of the processor's ``size`` (1024 px on the released checkpoint; no cropping
  to patches, the processor's default): the SAM ViT-B's 64 x 64 patch grid, folded by two stride-2
  convolutions into **16 x 16 = 256 image tokens**, row-major, which is the processor's fixed
  ``num_image_tokens``. The default resize + ``(x - mean) / std`` (CLIP) is the processor's arithmetic.
* **No chat template.** The released checkpoint ships none (the processor lays out its own OCR
  conversation with an "OCR:" query when called without text), so layerdream's raw format is used on
  both sides; the image side is ``<img>`` + the image tokens + ``</img>``, the framing the model was
  trained with, and no OCR instruction (no text may reach the image tokens' states but the framing).
* **Memory model.** SAM's config names its MLP ``mlp_dim``; the ViT sees 64 x 64 = 4096 tokens per
  image (the windowed blocks attend within 14 x 14 windows, four blocks globally).
"""
from __future__ import annotations

from .adapter import FamilyAdapter, VisionDims


class GotOcr2Adapter(FamilyAdapter):
    model_types = ("got_ocr2",)

    @property
    def grid(self) -> tuple[int, int]:
        side = self.image_size // self.model.config.vision_config.patch_size // 4  # two stride-2 convolutions
        return side, side

    def image_placeholder(self) -> str:
        return "<img>" + self.processor.image_token + "</img>"

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        return VisionDims(tokens=(self.image_size // vision.patch_size) ** 2, width=int(vision.hidden_size),
                          mlp=int(vision.mlp_dim), layers=int(vision.num_hidden_layers),
                          heads=int(vision.num_attention_heads))
