"""Argument checks at the public boundary: a wrong type or value is one UserError, not a traceback.

docs/python-api.md promises :class:`~layerdream.errors.UserError` for every fixable problem. Python
itself answers ``steps="10"`` with ``TypeError: '<=' not supported`` from deep inside the loop, and
``layers=[True]`` not at all (``True`` is an ``int``). So each public function checks its arguments
once, on entry, with these helpers; the CLI, which parses its flags into the same Python values and
calls the same functions, is checked by the same lines. The ground floor: imports nothing of layerdream
but ``errors`` (the subsystems and the API both use it), and no torch.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Iterable

from .errors import UserError


def describe(value: Any) -> str:
    """``'10' (str)``, ``None``, ``2.5 (float)``: what the user passed, short enough for one line."""
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def is_whole(value: Any) -> bool:
    """An integer that is not a bool (``True`` is an ``int`` in Python, never a layer or a seed)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def whole_number(value: Any, what: str, minimum: int | None = None) -> int:
    """``value`` as an int, or a UserError naming ``what`` and what it must be."""
    if not is_whole(value):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise UserError(f"{what} must be a whole number{bound}, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise UserError(f"{what} must be a whole number >= {minimum}, got {value}")
    return int(value)


def optional_whole_number(value: Any, what: str, minimum: int | None = None) -> int | None:
    return None if value is None else whole_number(value, what, minimum)


def whole_numbers(values: Any, what: str) -> list[int]:
    """One whole number or a non-empty sequence of them (``layers=1`` or ``layers=[1, 2]``)."""
    if is_whole(values):
        return [int(values)]
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise UserError(f"{what} must be a whole number or a list of them, e.g. [1, 2], got {describe(values)}")
    values = list(values)
    if not values:
        raise UserError(f"{what} must be a whole number or a list of them, e.g. [1, 2], got an empty list")
    bad = [v for v in values if not is_whole(v)]
    if bad:
        raise UserError(f"{what} must be whole numbers, got {describe(bad[0])} in {describe(values)}")
    return [int(v) for v in values]


def positive_number(value: Any, what: str) -> float:
    """A finite real number > 0 (a learning rate, a temperature); bools and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise UserError(f"{what} must be a positive number, got {describe(value)}")
    return float(value)


def real_number(value: Any, what: str, minimum: float | None = None) -> float:
    """A finite real number (>= ``minimum``); bools and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (minimum is not None and value < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise UserError(f"{what} must be a number{bound}, got {describe(value)}")
    return float(value)


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{what} must be True or False, got {describe(value)}")
    return value


def text(value: Any, what: str) -> str:
    """A word or phrase (str); anything else names what it was."""
    if not isinstance(value, str):
        raise UserError(f"{what} must be a word or phrase (str), got {describe(value)}")
    return value


def texts(values: Any, what: str) -> list[str]:
    """One str or a sequence of str (None: none). A str is one item, never its characters."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    if isinstance(values, bytes) or not isinstance(values, Iterable):
        raise UserError(f"{what} must be a word or phrase (str) or a list of them, got {describe(values)}")
    values = list(values)
    for v in values:
        if not isinstance(v, str):
            raise UserError(f"{what} must be words or phrases (str), got {describe(v)} in the list")
    return values


def path(value: Any, what: str) -> str:
    """A file or folder name (str or os.PathLike), as a str."""
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value.strip()):
        raise UserError(f"{what} must be a path (str or pathlib.Path), got {describe(value) if value != '' else 'an empty string'}")
    return os.fspath(value)


def one_of(value: Any, what: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise UserError(f"unknown {what} {value!r}; choose {', '.join(choices[:-1])} or {choices[-1]}"
                        if len(choices) > 1 else f"{what} must be {choices[0]!r}, got {describe(value)}")
    return value


__all__ = ["describe", "is_whole", "whole_number", "optional_whole_number", "whole_numbers", "positive_number",
           "real_number", "flag", "text", "texts", "path", "one_of"]
