"""One synthesis step's forward+backward with the prompt's attention masks reused vs rebuilt each call.

    python benchmarks/mask_cache.py --model toy-aligned --copies 4 --repeats 20

Not part of suite.py: it reaches into the handle's private mask cache to switch it off.

The image prompt never changes during synthesis, so layerdream builds Gemma 3's (bidirectional
image-block) mask dict once per batch size and passes it back; states are identical (tested).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="toy-aligned")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--layer", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import layerdream as ld

    vlm = ld.load(args.model, device="cpu")
    size = vlm.image_size

    def step(reuse: bool) -> float:
        if not reuse:  # the handle keys its mask dicts ("masks", ..., batch size); drop this size's
            stale = [k for k in vlm.cache if isinstance(k, tuple) and k[0] == "masks" and k[-1] == args.copies]
            if not stale:
                raise SystemExit("no cached mask dict found on the handle: VLM's cache layout changed, fix this script")
            for key in stale:
                del vlm.cache[key]
        x = torch.rand(args.copies, 3, size, size, requires_grad=True)
        t = time.perf_counter()
        vlm.image_tokens(x, args.layer).sum().backward()
        return time.perf_counter() - t

    step(True), step(False)
    times = {True: [], False: []}
    for _ in range(args.repeats):
        for reuse in (True, False):  # interleaved
            times[reuse].append(step(reuse))
    a, b = statistics.median(times[True]), statistics.median(times[False])
    print(f"# {args.model}, K={args.copies}, layer {args.layer}, {args.threads} thread(s), median of {args.repeats}")
    print(f"| masks | ms/step |\n|---|---|\n| reused | {a * 1e3:.1f} |\n| rebuilt | {b * 1e3:.1f} |")
    print(f"\nrebuilt / reused = {b / a:.2f}x")


if __name__ == "__main__":
    main()
