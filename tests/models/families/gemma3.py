"""Gemma 3: SigLIP -> 4x4-like average pooling -> RMSNorm -> linear; token_type_ids for the image block."""
from __future__ import annotations

FAMILY = "gemma3"
CLASS = "Gemma3ForConditionalGeneration"


def build(folder) -> None:
    from tinymodels import make_tiny_folder  # tests/tinymodels.py

    make_tiny_folder(folder)
