"""The named checkpoints that ship inside the package (``--model toy-aligned``), read from data.

Why data: the names belong to models/ (``load`` resolves them), the checkpoints to the code that
trains them (toyworld/, a higher floor). ``data/shipped_models.json`` lists each name, the command that
rebuilds it and whether its language model comes from the realmodel extra, so neither floor imports the
other for it (toyworld/ reads the same table: one list of names). Light: no torch, read once.
"""
from __future__ import annotations

import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
_TABLE = json.loads((PACKAGE / "data" / "shipped_models.json").read_text(encoding="utf-8"))
ROOT = PACKAGE / _TABLE["root"]  # the folder that holds one subfolder per shipped name
MODELS: dict[str, dict[str, str]] = dict(_TABLE["models"])
NAMES = tuple(MODELS)
# names whose folder ships only the vision tower and projector; the LM loads from the realmodel extra
REFERENCE_LM_NAMES = tuple(name for name, entry in MODELS.items() if entry.get("language_model"))


def folder(name: str) -> Path:
    """Where the shipped checkpoint ``name`` lives (it may be absent from a slim installation)."""
    return ROOT / name


def rebuild_command(name: str) -> str:
    """The command that makes the checkpoint ``name`` again (for the error when it is not installed)."""
    return MODELS[name]["rebuild"]


__all__ = ["ROOT", "MODELS", "NAMES", "REFERENCE_LM_NAMES", "folder", "rebuild_command"]
