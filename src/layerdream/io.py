"""Crash-safe file output and provenance.

Every artefact is written to a temporary file in the same folder and renamed into place, so an
interrupted run never leaves a half-written PNG or JSON behind. Every JSON carries the package
versions that produced it (results are measurements; measurements need their provenance).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import shutil
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


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free bytes on the file system of ``folder`` (or of its nearest existing parent); None if unknown."""
    probe = Path(folder)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def disk_full(path: str | os.PathLike) -> UserError:
    """The one line for a full disk (or quota): where, how much is free, and that nothing was lost."""
    free = free_bytes(Path(path).parent)
    return UserError(f"no space left on the device of {str(path)!r} ({human_bytes(free) if free is not None else 'nothing'} "
                     "free); nothing was half-written and every finished result is kept: free some space (or choose "
                     "another folder) and run the same command again")


def check_free_space(folder: str | os.PathLike, need: int, what: str) -> None:
    """Refuse now, before any compute, when ``folder``'s file system has less than ``need`` bytes free
    (``need`` is a lower bound of what ``what`` will write, so a refusal is never wrong)."""
    free = free_bytes(folder)
    if free is not None and free < need:
        raise UserError(f"{str(folder)!r} has {human_bytes(free)} free, and {what} need at least {human_bytes(need)}; "
                        "free some space or choose another folder (nothing was written)")


def image_bytes_estimate(image_size: int) -> int:
    """A lower bound of one result on disk: its PNG (synthesised images compress to ~40% of the raw
    RGB bytes; we count 25%) and its JSON (~1 KiB before the trajectory)."""
    return int(0.25 * 3 * image_size * image_size) + 1024


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place (never half a file).

    A full disk (or quota) is a :class:`UserError` naming the place; the temporary file is removed."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            raise disk_full(path) from None
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


def atomic_save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically (drawn in memory first: a full disk leaves no half a PNG)."""
    import io as _io

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """:func:`atomic_save_figure`, then close the figure whatever happened (pyplot keeps every open figure
    alive): the one way each of the package's figures is written."""
    import matplotlib.pyplot as plt

    try:
        atomic_save_figure(fig, path, dpi=dpi)  # never half a PNG on a full disk
    finally:
        plt.close(fig)
    return Path(path)


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
