"""The toy world: a procedural image-caption world, toy Gemma 3 VLMs of known alignment, and a judge.

Why it exists: the method needs a model on which the answer is known. ``toy-aligned`` is aligned by
construction (positive control and the default model of every command), ``toy-shuffled`` cannot be
aligned (negative control), ``toy-plain`` is trained like an ordinary adapter VLM (a finding).
``toy-gemma`` (captioning only) and ``toy-gemma-aligned`` (its positive control) put the same tower in
front of the real, frozen Gemma 3 270M, to test the paper's claim on a real pre-trained LM;
``toy-gemma-cotrained`` continues toy-gemma with the LM trained too (LoRA), LLaVA's second stage.
An independent CNN judge reads the world's factors back from any image, so synthesis results on
these models can be scored offline.
"""
from __future__ import annotations

from pathlib import Path

from ..models import shipped

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
# The shipped names are a table in data/shipped_models.json, read by models/ (which resolves them) and here.
TOY_MODELS = tuple(n for n in shipped.NAMES if n not in shipped.REFERENCE_LM_NAMES)  # toy-aligned, -plain, -shuffled
# toy-gemma, toy-gemma-aligned (LM frozen), toy-gemma-cotrained (LM co-trained, LoRA merged at load): gemma.py
GEMMA_TOY_MODELS = shipped.REFERENCE_LM_NAMES


def checkpoint_path(name: str) -> Path:
    """Folder of a shipped toy checkpoint (``toy-aligned``, ``toy-plain``, ``toy-shuffled``, ``toy-gemma``,
    ``toy-gemma-aligned``, ``toy-gemma-cotrained``, ``judge``)."""
    from ..errors import UserError

    names = (*TOY_MODELS, *GEMMA_TOY_MODELS, "judge")
    if name not in names:
        raise UserError(f"unknown toy checkpoint {name!r}; choose one of {', '.join(names)}")
    return CHECKPOINTS / name
