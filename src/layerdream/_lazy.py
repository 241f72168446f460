"""Lazy package attributes (PEP 562): ``import layerdream`` and ``layerdream --help`` must not pay for
torch and transformers (seconds) before anything needs them; the names resolve on first use."""
from __future__ import annotations

import importlib
from typing import Callable


def lazy(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for a package whose ``names`` map to relative module paths."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        importlib.import_module(package).__dict__[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
