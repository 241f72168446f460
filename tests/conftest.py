"""Shared fixtures: tiny random-init Gemma 3 checkpoints of the real class, saved as real folders."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# This checkout's package, in this process and in every subprocess a test starts (`python -m layerdream.cli`,
# Ray workers, notebooks): another layerdream the interpreter can see (a --system-site-packages venv on a
# machine that has one installed, a user-site install, a PYTHONPATH) must not be the one under test.
SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join([SRC, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != SRC]])

import pytest
import torch

torch.set_num_threads(1)  # other processes share the cores; default threading makes tiny ops 100x slower
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tinymodels import BASELINE, WORDS, make_tiny_folder  # noqa: F401 (re-exported for tests)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """A 32-px, 2x2-token, 3-layer Gemma 3 with tokenizer, processor and baseline words."""
    return make_tiny_folder(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def tiny_vlm(tiny_folder):
    import layerdream as ld

    return ld.load(str(tiny_folder), device="cpu")


def pytest_configure(config):
    """Refuse to test another copy of the package (imported before this conftest could put src/ first)."""
    import layerdream

    where = Path(layerdream.__file__).resolve()
    if not where.is_relative_to(Path(SRC).resolve()):
        raise pytest.UsageError(f"tests import layerdream from {where}, not this checkout's {SRC}; "
                                "remove that installation or run `make test` in a fresh venv")
