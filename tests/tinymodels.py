"""Tiny checkpoints shared by fixtures and by tests/models/families (a plain module: ``conftest`` is
ambiguous on sys.path, since every test folder may have one)."""
from __future__ import annotations

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
