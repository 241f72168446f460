"""Shared fixtures: tiny random-init Gemma 3 checkpoints of the real class, saved as real folders."""
from __future__ import annotations

import os

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
