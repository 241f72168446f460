"""Qwen3-VL mixture-of-experts (Qwen3-VL-30B-A3B, -235B-A22B): Qwen3-VL's tower, template and DeepStack
with a sparse-MoE text model (4 experts, 2 per token here). Same adapter as Qwen3-VL."""
from __future__ import annotations

from families import qwen3_vl, save_checkpoint
from families.qwen3_vl import BASELINE, CHAT_TEMPLATE, build_tokenizer  # noqa: F401 (same tokenizer and template)

FAMILY = "qwen3_vl_moe"
CLASS = "Qwen3VLMoeForConditionalGeneration"
DEEPSTACK_LAYERS = (1, 2)


def build_model_and_processor(*, layers: int = 3, seed: int = 0, max_side: int = 64):
    """(model, processor) of a random-init Qwen3-VL-MoE with the real classes."""
    return qwen3_vl.build_model_and_processor(layers=layers, seed=seed, max_side=max_side, moe=True)


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
