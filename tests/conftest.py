"""Shared fixtures: tiny random-init Gemma 3 checkpoints of the real class, saved as real folders."""
from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)  # other processes share the cores; default threading makes tiny ops 100x slower
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = ["red", "blue", "green", "dog", "cat", "t", "-", "rex", "sky", "grass", "circle", "the", "a", "of",
         "is", "on", "with", "and", "image", "shows", "spring", "(", ")", "season", "big", "small"]
BASELINE = ["the", "a", "of", "is", "on", "with", "and", "image", "shows", "big", "small"]


def make_tiny_folder(path, *, image_size=32, patch_size=8, mm_tokens_per_image=4, layers=3, seed=0):
    from layerdream.models.tiny import build_tiny_gemma3, save_tiny_gemma3

    model, _, processor = build_tiny_gemma3(
        WORDS, image_size=image_size, patch_size=patch_size, mm_tokens_per_image=mm_tokens_per_image,
        text={"num_hidden_layers": layers}, seed=seed,
    )
    save_tiny_gemma3(path, model, processor)
    (path / "baseline_words.txt").write_text("\n".join(BASELINE) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """A 32-px, 2x2-token, 3-layer Gemma 3 with tokenizer, processor and baseline words."""
    return make_tiny_folder(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def tiny_vlm(tiny_folder):
    import layerdream as ld

    return ld.load(str(tiny_folder), device="cpu")
