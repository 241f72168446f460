"""Cosmos 3 Omni (the reasoner of ``nvidia/Cosmos3-Nano``): Qwen3-VL's architecture under its own config type
(``Cosmos3OmniConfig`` subclasses ``Qwen3VLConfig``, ``Cosmos3OmniForConditionalGeneration`` the Qwen3-VL
class; the unified checkpoint's generator / sound / action towers are dropped at load). transformers 5.24
ships no Cosmos 3 Omni processor: the checkpoint names ``Qwen3VLProcessor`` with a ``Qwen2VLImageProcessor``
(the image-processor mapping of ``cosmos3_omni``), as here. Tower, template, tokenizer and DeepStack
(blocks 1 and 2 of 3) are those of ``families/qwen3_vl.py``, the same config values under the Cosmos type.
"""
from __future__ import annotations

from families import qwen3_vl, save_checkpoint
from families.qwen3_vl import BASELINE, CHAT_TEMPLATE, build_tokenizer  # noqa: F401 (same tokenizer and template)

FAMILY = "cosmos3_omni"
CLASS = "Cosmos3OmniForConditionalGeneration"
DEEPSTACK_LAYERS = (1, 2)


def build_model_and_processor(*, layers: int = 3, seed: int = 0, max_side: int = 64):
    """(model, processor): Qwen3-VL's tiny config values as a ``Cosmos3OmniConfig``, the real Cosmos class."""
    import torch
    from transformers import Cosmos3OmniConfig, Cosmos3OmniForConditionalGeneration

    qwen, processor = qwen3_vl.build_model_and_processor(layers=layers, seed=seed, max_side=max_side)
    values = {k: v for k, v in qwen.config.to_dict().items() if k not in ("model_type", "architectures")}
    torch.manual_seed(seed)
    return Cosmos3OmniForConditionalGeneration(Cosmos3OmniConfig(**values)).eval(), processor


def build(folder) -> None:
    save_checkpoint(folder, *build_model_and_processor(), BASELINE)
