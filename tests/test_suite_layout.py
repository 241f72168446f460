"""The suite's own shape: pytest's default import mode needs every test module's basename to be unique.

Two `test_cli.py` in different folders stop collection of the whole suite in a clean checkout
("import file mismatch"), which a developer's warm __pycache__ can hide.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and p.name != "__init__.py")
    dups = sorted(n for n, c in names.items() if c > 1)
    assert not dups, f"test modules sharing a basename (rename one): {dups}"
