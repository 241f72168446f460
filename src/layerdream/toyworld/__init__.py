"""The toy world: a procedural image-caption world, toy Gemma 3 VLMs of known alignment, and a judge.

Why it exists: the method needs a model on which the answer is known. ``toy-aligned`` is aligned by
construction (positive control and the default model of every command), ``toy-shuffled`` cannot be
aligned (negative control), ``toy-plain`` is trained like an ordinary adapter VLM (a finding).
An independent CNN judge reads the world's factors back from any image, so synthesis results on
these models can be scored offline.
"""
from __future__ import annotations

from pathlib import Path

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
TOY_MODELS = ("toy-aligned", "toy-plain", "toy-shuffled")


def checkpoint_path(name: str) -> Path:
    """Folder of a shipped toy checkpoint (``toy-aligned``, ``toy-plain``, ``toy-shuffled``, ``judge``)."""
    from ..errors import UserError

    if name not in (*TOY_MODELS, "judge"):
        raise UserError(f"unknown toy checkpoint {name!r}; choose one of {', '.join((*TOY_MODELS, 'judge'))}")
    return CHECKPOINTS / name
