"""Crash-safe file output and provenance.

Every artefact is written to a temporary file in the same folder and renamed into place, so an
interrupted run never leaves a half-written PNG or JSON behind. Every JSON carries the package
versions that produced it (results are measurements; measurements need their provenance).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import UserError


def slugify(text: str) -> str:
    """File-name-safe form of a concept: "spring (season)" -> "spring_season"."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug or "concept"


def file_stem(label: str, max_chars: int = 60) -> str:
    """A file name for a concept that is readable *and* unique to it.

    Letters of any script are kept ("Ölbaum" -> "ölbaum"); when the readable part is not the label
    itself ("Red", "red!", "spring (season)", a long phrase) a short hash of the exact label follows,
    so two concepts can never overwrite each other's files, even on a case-insensitive file system.
    """
    readable = re.sub(r"[^\w]+", "_", label.lower(), flags=re.UNICODE).strip("_")[:max_chars].strip("_") or "concept"
    if readable == label:
        return readable
    return f"{readable}_{hashlib.sha256(label.encode()).hexdigest()[:8]}"


# Letters that render as nothing (Hangul fillers, the blank Braille pattern): not format characters by category.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: empty, or only whitespace, control, format (zero-width space,
    joiners, BOM, invisible separators), surrogate or unassigned characters and blank fillers.

    A concept like that is refused like ``''``: a zero-width space tokenises to a real token, so the
    method would happily make an "image of" a concept nobody can read."""
    import unicodedata

    return all(ch.isspace() or ch in _BLANK_LETTERS or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp")
               for ch in text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone makes files private (0600)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def atomic_save_png(path: str | os.PathLike, image) -> Path:
    """Save a PIL image atomically."""
    import io as _io

    buf = _io.BytesIO()
    image.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def ensure_writable_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Create ``path`` if needed and prove we can write there, before any expensive work starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe", delete=True)
        probe.close()
    except OSError as err:
        raise UserError(
            f"cannot write to {flag} {str(path)!r} ({err.strerror or err}); choose a folder you can write to"
        ) from None
    return path


def versions() -> dict[str, str]:
    """Versions of everything that can change a result (transformers changed Gemma 3's masks in 4.55)."""
    out = {"python": platform.python_version()}
    for pkg in ("layerdream", "torch", "transformers", "tokenizers", "numpy", "pillow"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
