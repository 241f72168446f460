"""MiniCPM-V 4.7: MiniCPM-V 4.6's tiny checkpoint (``families.minicpmv4_6``: same tower, merger, Qwen3.5 text model,
processor and template) under the 4.7 classes, whose one addition is canvas M-RoPE: image tokens and the
``<image>``/``</image>`` markers take (t, h, w) positions that the model builds from ``mm_token_type_ids``, which
``MiniCPMV4_7Processor`` returns by default. The marker ids (``image_start_id`` ... ``newline_id``) are set in the
config as the released ``config.json`` sets them. The image processor is the 4.6 one (AutoImageProcessor maps
``minicpmv4_7`` to ``MiniCPMV4_6ImageProcessorPil`` / ``MiniCPMV4_6ImageProcessor``).
"""
from __future__ import annotations

from families import save_checkpoint
from families.minicpmv4_6 import BASELINE, build_model_and_processor as _build

FAMILY = "minicpmv4_7"
CLASS = "MiniCPMV4_7ForConditionalGeneration"
PROCESSOR_KWARGS: dict = {}  # one view at the defaults, as 4.6


def build_model_and_processor(**kwargs):
    return _build(variant="minicpmv4_7", **kwargs)


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
