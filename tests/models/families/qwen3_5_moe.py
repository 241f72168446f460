"""Qwen3.5 mixture-of-experts (Qwen3.5-35B-A3B and up): Qwen3.5's tower, template and hybrid linear/full
attention with a sparse-MoE text model (4 experts, 2 per token, plus the shared expert). Same adapter."""
from __future__ import annotations

from families import qwen3_5, save_checkpoint
from families.qwen3_5 import BASELINE

FAMILY = "qwen3_5_moe"
CLASS = "Qwen3_5MoeForConditionalGeneration"


def build_model_and_processor(*, layers: int = 3, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init Qwen3.5-MoE with the real classes."""
    return qwen3_5.build_model_and_processor(layers=layers, seed=seed, max_side=max_side, moe=True)


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
