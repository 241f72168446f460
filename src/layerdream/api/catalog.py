"""``ld.families()``: every image-text model type of the installed transformers and what layerdream does
with it, as a DataFrame (the data: ``models/catalog.py``, which the CLI and README's table also read)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UserError
from .coerce import _pandas

if TYPE_CHECKING:
    import pandas as pd

STATUSES = ("supported", "refused", "not yet supported", "unclassified")
_ALIASES = {"not-yet": "not yet supported", "not_yet": "not yet supported", "not yet": "not yet supported"}


def family_rows(status: str | None = None) -> list[dict]:
    """The rows of :func:`families` as dicts (no pandas needed), optionally of one status."""
    from ..models.catalog import rows

    table = rows()
    if status is None:
        return table
    wanted = _ALIASES.get(status, status)
    if wanted not in STATUSES:
        raise UserError(f"unknown status {status!r}; choose one of supported, refused, not-yet, unclassified")
    return [row for row in table if row["status"] == wanted]


def families(status: str | None = None) -> "pd.DataFrame":
    """One row per ``model_type`` of the installed transformers' ``MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES``
    (plus any supported type it lacks): ``status`` (supported / refused / not yet supported /
    unclassified), ``family``, ``class``, ``image_tokens`` at the fixed geometry (supported types),
    ``examples`` (checkpoint ids), ``note`` (the refusal's reason, what a missing adapter must handle,
    or for an unclassified type which modeling file to read) and ``in_transformers``; ``attrs["versions"]``
    names the layerdream and transformers releases it describes."""
    from ..io import versions

    pd = _pandas()
    frame = pd.DataFrame(family_rows(status)).set_index("model_type")
    frame.attrs["versions"] = {k: versions()[k] for k in ("layerdream", "transformers")}  # the release classified
    return frame


__all__ = ["families", "family_rows", "STATUSES"]
