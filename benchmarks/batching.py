"""B concepts in one forward vs. one concept at a time, on the same model, side by side in one run.

    python benchmarks/batching.py --model toy-aligned --concepts 8 --steps 20

Reports wall time per image for each way and the ratio; the images are identical either way (tested
in tests/synthesis/test_loop.py), so the speed-up is free.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="toy-aligned")
    parser.add_argument("--concepts", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import layerdream as ld

    try:
        vlm = ld.load(args.model, device="cpu")
        from layerdream.toyworld.world import CONCEPTS as words
    except Exception:  # no toy checkpoints in this installation: a tiny random model of the same geometry
        from layerdream.models.tiny import build_tiny_gemma3, save_tiny_gemma3

        words = [f"w{i}" for i in range(32)]
        folder = tempfile.mkdtemp()
        model, _, proc = build_tiny_gemma3(words, image_size=64, patch_size=8, mm_tokens_per_image=16,
                                           vision={"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 3},
                                           text={"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4})
        save_tiny_gemma3(folder, model, proc)
        (Path(folder) / "baseline_words.txt").write_text("\n".join(words[-8:]))
        vlm = ld.load(folder, device="cpu")
        args.model = "tiny-random (64 px, 16 tokens, 4 layers)"
    concepts = list(words)[: args.concepts]
    opts = dict(layers=1, seeds=0, steps=args.steps, progress=False)
    ld.synthesize(vlm, concepts[:1], **(opts | {"steps": 2}))  # warm-up
    batched, single = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        ld.synthesize(vlm, concepts, **opts)
        batched.append(time.perf_counter() - t)
        t = time.perf_counter()
        for c in concepts:
            ld.synthesize(vlm, c, **opts)
        single.append(time.perf_counter() - t)
    b, s = min(batched), min(single)
    n = len(concepts)
    print(f"# {args.model}: {n} concepts x K=4 copies, {args.steps} steps, {args.threads} threads, best of {args.repeats}")
    print("| way | s per image | images/s |\n|---|---|---|")
    print(f"| one batch of {n} | {b / n:.3f} | {n / b:.2f} |")
    print(f"| one at a time | {s / n:.3f} | {n / s:.2f} |")
    print(f"\nbatched is {s / b:.2f}x faster")


if __name__ == "__main__":
    main()
