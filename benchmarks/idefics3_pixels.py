"""Idefics3 / SmolVLM: how far layerdream's pixels and layer-1 states are from the processor's (issue 19.2).

The processor at its defaults (``do_resize=True``, one tile) resizes a tile-sized picture up to
``longest_edge`` and back with LANCZOS. "before" feeds the picture unresized (what layerdream did
until that path was reproduced), "after" the adapter's preprocessing; both against the processor's
``pixel_values``, on the tiny checkpoints of ``tests/models/families`` (random init, real classes and
processors), for a random 8-bit picture and a smooth one at the tile size.

    PYTHONPATH=src python benchmarks/idefics3_pixels.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def pictures(size: int) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size] / size
    smooth = np.stack([np.sin(6 * xx) * 0.4 + 0.5, np.cos(5 * yy) * 0.4 + 0.5, 0.5 + 0.3 * np.sin(9 * (xx + yy))], -1)
    return {"random": np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8),
            "smooth": (smooth * 255).round().astype(np.uint8)}


def main() -> None:
    torch.set_num_threads(1)
    sys.path[:0] = [str(ROOT / "tests" / "models"), str(ROOT / "tests")]
    from PIL import Image

    import layerdream as ld
    from families import idefics3, smolvlm

    print("| family | picture | pixels max abs diff before | after | layer-1 states rel. diff before | after |")
    print("|---|---|---|---|---|---|")
    for family in (idefics3, smolvlm):
        folder = Path(tempfile.mkdtemp())
        family.build(folder)
        vlm = ld.load(str(folder), device="cpu")
        prompt, at = vlm.image_prompt(), vlm.image_positions()

        def states(pixel_values):
            with torch.no_grad():
                return vlm.residual(1, **vlm.adapter.forward_inputs(prompt, {"pixel_values": pixel_values}, 1))[:, at]

        for kind, array in pictures(vlm.image_size).items():
            theirs = vlm.processor.image_processor(images=Image.fromarray(array), do_image_splitting=False,
                                                   return_tensors="pt")["pixel_values"]
            x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
            before = ((x - 0.5) / 0.5).unsqueeze(1)
            after = vlm.adapter.preprocess(x)["pixel_values"]
            reference = states(theirs)
            rel = lambda px: float((states(px) - reference).norm() / reference.norm())  # noqa: E731
            print(f"| {family.FAMILY} | {kind} | {(before - theirs).abs().max():.4f} | {(after - theirs).abs().max():.4f} "
                  f"| {rel(before):.2%} | {rel(after):.2%} |")
    print("(one uint8 step = 2/255 = 0.0078 after normalising with std 0.5)")


if __name__ == "__main__":
    main()
