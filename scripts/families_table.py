"""Rewrite README's families section from src/layerdream/models/catalog.py (the one table of every
image-text model type and its status). Run after changing the catalog: ``python scripts/families_table.py``;
``tests/models/test_catalog.py`` fails while README and the catalog disagree."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from layerdream.models.catalog import README_BEGIN, README_END, markdown  # noqa: E402


def updated(readme: str) -> str:
    start, end = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    return readme[:start] + markdown() + readme[end:]


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    new = updated(text)
    if new != text:
        path.write_text(new)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
