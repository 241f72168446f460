"""MiniCPM-OCR: MiniCPM-V 4.6's tiny checkpoint (``families.minicpmv4_6``) under the OCR classes, in the OCR
checkpoints' ``"4x"`` mode: the window-attention merger is skipped, the MLP merger folds 2 x 2 patches, so a square
keeps 4x the tokens (here ``scale_resolution`` 32 px, patch 4: 8 x 8 patches -> 4 x 4 = 16 tokens; 448 px -> 16 x 16 =
256 on the real checkpoint). Config and processor are the real ``MiniCPMOcrConfig`` / ``MiniCPMOcrProcessor``.

``MiniCPMOcrImageProcessor`` exists only as a torchvision class in transformers 5.24 and torchvision does not
import here, so the image slot holds :class:`MiniCPMOcrImageProcessorTwin`: transformers' own PIL class for 4.6
(``MiniCPMV4_6ImageProcessorPil``) at the OCR defaults (``downsample_mode="4x"``, ``small_image_upsize="always"``).
At ``"always"`` (its default) the OCR class's ``_preprocess`` takes the 4.6 path step for step (same slicing
grid, same ``find_best_resize`` with upscaling for an unsliced image, BICUBIC, rescale + normalise, the same
``reshape_by_patch`` strip); only ``"adaptive"`` (OpenCV glyph statistics) and ``"never"`` differ, and the adapter
refuses those. The twin refuses them too.
"""
from __future__ import annotations

from families import save_checkpoint
from families.minicpmv4_6 import BASELINE, PATCH, build_model_and_processor as _build

FAMILY = "minicpm_ocr"
CLASS = "MiniCPMOcrForConditionalGeneration"
PROCESSOR_KWARGS: dict = {}  # one view at the defaults, as 4.6
SCALE = 32  # 4x keeps 4x the tokens of 16x: a smaller square keeps the battery cheap


def _twin_class():
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import (
        MiniCPMV4_6ImageProcessorPil, MiniCPMV4_6ImageProcessorPilKwargs)

    class MiniCPMOcrTwinKwargs(MiniCPMV4_6ImageProcessorPilKwargs, total=False):
        small_image_upsize: str

    class MiniCPMOcrImageProcessorTwin(MiniCPMV4_6ImageProcessorPil):
        """``MiniCPMOcrImageProcessor`` (torchvision) at ``small_image_upsize="always"``, on transformers' PIL 4.6 class."""

        downsample_mode = "4x"
        small_image_upsize = "always"
        valid_kwargs = MiniCPMOcrTwinKwargs

        def _preprocess(self, images, *args, small_image_upsize: str = "always", **kwargs):
            if small_image_upsize != "always":
                raise NotImplementedError("the test twin reproduces small_image_upsize='always' only")
            return super()._preprocess(images, *args, **kwargs)

    return MiniCPMOcrImageProcessorTwin


MiniCPMOcrImageProcessorTwin = _twin_class()


def register_twin() -> None:
    from transformers import AutoImageProcessor, MiniCPMOcrConfig

    AutoImageProcessor.register(MiniCPMOcrConfig, image_processor_classes={
        "torchvision": MiniCPMOcrImageProcessorTwin, "pil": MiniCPMOcrImageProcessorTwin}, exist_ok=True)


def build_model_and_processor(*, scale: int = SCALE, **kwargs):
    register_twin()
    image_processor = MiniCPMOcrImageProcessorTwin(scale_resolution=scale, patch_size=PATCH)
    return _build(variant="minicpm_ocr", downsample_mode="4x", image_processor=image_processor, scale=scale, **kwargs)


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
