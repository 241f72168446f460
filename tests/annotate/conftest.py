"""Fixtures for the annotation tests; the helpers live in ``annotate_fixtures`` (importable by name)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))

from annotate_fixtures import build_run  # noqa: E402


@pytest.fixture(scope="session")
def _template_run(tmp_path_factory) -> Path:
    return build_run(tmp_path_factory.mktemp("annotate-template"))


@pytest.fixture
def run(_template_run, tmp_path) -> Path:
    """A fresh copy of the judged RUN for each test (answers of one test never leak into another)."""
    return Path(shutil.copytree(_template_run, tmp_path / "run"))
