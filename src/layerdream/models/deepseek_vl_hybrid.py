"""DeepSeek-VL hybrid (``DeepseekVLHybridForConditionalGeneration``, deepseek-vl-7b): DeepSeek-VL with a
second, high-resolution tower. Only what differs from the default adapter.

* **Two towers, one picture.** The input is one square at the processor's ``high_res_size`` (1024 px on
  the released checkpoints). A SAM ViT-B reads it whole (64 x 64 patches; its last output plus its first
  global block's state through a neck, weighted by the learned ``high_res_vision_alpha``, folded to the
  SigLIP grid by two stride-2 convolutions); a SigLIP-L reads the same picture shrunk to ``size`` (384 px,
  24 x 24 patches). The aligner concatenates the two per-place features, so there are **24 x 24 = 576
  image tokens**, row-major, scattered into ``<image_placeholder>``: the grid is SigLIP's.
* **The processor's arithmetic.** ``high_res_pixel_values``: the 1024-px square (a square at that size
  passes the resize and the padding unchanged), ``(x - high_res_image_mean) / high_res_image_std``.
  ``pixel_values``: the *resized 1024-px picture* shrunk to 384 px by PIL with ``resample`` (BICUBIC),
  then ``(x - image_mean) / image_std`` (the two towers' statistics are separate settings). The shrink is
  reproduced with PIL's filter as matrices (``models/resample.py``): differentiable, to about one uint8
  step of PIL's rounded result.
* **Memory model.** SAM's dims (4096 tokens per image dominate), with SigLIP's blocks added as the SAM
  blocks they cost as much as (``models/sam.py``).
* **Photos** (``align``) are resized straight to the 1024-px square with ``high_res_resample`` (the
  processor would pad a non-square photo with the mean colour; a square photo is the same either way).
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .adapter import FamilyAdapter, VisionDims, resize_to
from .processors import share_chat_template
from .resample import filter_name, pil_resize
from .sam import sam_dims


def _side(size) -> int:
    get = size.get if hasattr(size, "get") else lambda key: getattr(size, key, None)
    height, width = get("height"), get("width")
    if height is None or height != width:
        raise UserError(f"this DeepSeek-VL processor's sizes are not squares ({size}); use the processor saved with the model")
    return int(height)


class DeepseekVLHybridAdapter(FamilyAdapter):
    model_types = ("deepseek_vl_hybrid",)

    def __init__(self, model, processor):
        super().__init__(model, processor)
        share_chat_template(processor)
        ip = processor.image_processor
        vision, sam = model.config.vision_config, model.config.high_res_vision_config
        self.low_size = _side(ip.size)
        self.image_size = _side(ip.high_res_size)
        if self.low_size != int(vision.image_size) or self.image_size != int(sam.image_size):
            raise UserError(f"this DeepSeek-VL processor gives {self.low_size}-px and {self.image_size}-px images but the "
                            f"towers take {vision.image_size} (SigLIP) and {sam.image_size} px (SAM); use the processor "
                            "saved with the model")
        self._side = int(vision.image_size) // int(vision.patch_size)
        if processor.num_image_tokens != self._side**2:
            raise UserError(f"this DeepSeek-VL processor writes {processor.num_image_tokens} image tokens but the towers "
                            f"make {self._side**2}; use the processor saved with the model")
        self.high_mean = torch.tensor(ip.high_res_image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.high_std = torch.tensor(ip.high_res_image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self._filter = filter_name(getattr(ip, "resample", None))

    @property
    def grid(self) -> tuple[int, int]:
        return self._side, self._side

    def preprocess(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        high = resize_to(images, self.image_size)
        low = pil_resize(high, self.low_size, self.low_size, self._filter)  # from the high-res picture, as the processor
        dev = images.device
        return {"pixel_values": (low - self.mean.to(dev)) / self.std.to(dev),
                "high_res_pixel_values": (high - self.high_mean.to(dev)) / self.high_std.to(dev)}

    def photo_resample(self) -> int:
        """The filter of the high-res resize (the picture the model's input is made from)."""
        from PIL import Image

        resample = getattr(self.processor.image_processor, "high_res_resample", None)
        return int(getattr(resample, "value", resample)) if resample is not None else int(Image.Resampling.BICUBIC)

    def vision_dims(self) -> VisionDims:
        vision = self.model.config.vision_config
        return sam_dims(self.model.config.high_res_vision_config, self.image_size,
                        (self._side**2, int(vision.hidden_size), int(vision.intermediate_size), int(vision.num_hidden_layers)))
