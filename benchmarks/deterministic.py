"""Same seed, same image: what reproducibility costs, measured side by side (issue 9, item 4).

    python benchmarks/deterministic.py                        # CPU parts; the GPU part when CUDA is present
    python benchmarks/deterministic.py --gpu-only --steps 4   # the GPU part alone (a lent device's minutes)

CPU, each comparison interleaved in one process (``common.interleaved``), medians:
  A. synthesis on toy-aligned's fast preset, per step: *before* (``F.interpolate`` upsampling and one
     advanced-indexing gather for the crops, the formulation that made images depend on the thread
     count) vs *after* (``param.resize`` matrix products and the copy-by-copy crop backward);
  B. the parameterisation + augmentation alone, forward + backward, before vs after, at the toy
     geometry and at the paper geometry (448 canvas, 23 scales, K = 8, shifts ±56): where the model
     is big, this is all that changed;
  C. synthesis with and without ``determinism.deterministic()`` (strict deterministic algorithms);
  and the effect itself: the largest pixel difference (in 1/255) between images made at 1 and at 2
  threads, before and after, and between two 2-thread runs.
GPU (``torch.cuda.is_available()``): a random-init Gemma 3 4B (``gpu.build_vlm``, bf16), paper preset,
seconds per step with and without ``deterministic()``, and whether two runs of each give the same
image. The adapter's 448 -> 896 resize is routed through ``param.resize`` in both arms, because
``F.interpolate``'s CUDA backward has no deterministic implementation (docs/reproducibility.md).
Without CUDA the GPU part prints one line and the script exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402


# -- the former formulation, kept here so that "before" and "after" run side by side ---------------
def _before_logits(self) -> torch.Tensor:
    total = 0
    for theta in self.components:
        if theta.shape[-1] == self.canvas:
            total = total + theta
        else:
            mode = "nearest" if theta.shape[-1] == 1 else self.upsample
            extra = {} if mode == "nearest" else {"align_corners": False}
            total = total + F.interpolate(theta, size=(self.canvas, self.canvas), mode=mode, **extra)
    return total


def _before_upscale(images, max_shift):
    size = images.shape[-1]
    return F.interpolate(images, size=(size + 2 * max_shift,) * 2, mode="bilinear", align_corners=False) if max_shift else images


def _before_crop_and_noise(big, offsets, eps, size):
    b, k = big.shape[0], offsets.shape[0]
    base = torch.arange(size, device=big.device)
    rows, cols = offsets[:, 0:1] + base, offsets[:, 1:2] + base
    crops = big[:, :, rows[:, :, None], cols[:, None, :]].permute(0, 2, 1, 3, 4)  # backward: accumulating index_put_
    if eps is not None:
        crops = crops + eps[None]
    return crops.reshape(b * k, 3, size, size)


@contextlib.contextmanager
def formulation(kind: str) -> Iterator[None]:
    """``after`` is the package as it is; ``before`` swaps the two former functions in."""
    from layerdream.synthesis import augment
    from layerdream.synthesis.param import MultiResolutionImage

    if kind == "after":
        yield
        return
    saved = MultiResolutionImage.logits, augment.upscale, augment.crop_and_noise
    MultiResolutionImage.logits, augment.upscale, augment.crop_and_noise = (
        _before_logits, _before_upscale, _before_crop_and_noise)
    try:
        yield
    finally:
        MultiResolutionImage.logits, augment.upscale, augment.crop_and_noise = saved


def _max_diff_255(a: list[torch.Tensor], b: list[torch.Tensor]) -> int:
    q = lambda x: (x.clamp(0, 1) * 255).round()  # noqa: E731  (what the PNG stores)
    return int(max((q(x) - q(y)).abs().max().item() for x, y in zip(a, b)))


def cpu_part(model: str, steps: int, repeats: int, threads: int) -> None:
    import layerdream as ld
    from layerdream.synthesis import determinism

    torch.set_num_threads(threads)
    vlm = ld.load(model, device="cpu")
    concepts = ["red", "blue"]

    def synth():
        return ld.synthesize(vlm, concepts, layers=1, seeds=0, steps=steps, progress=False)

    def way(kind: str):
        def run():
            with formulation(kind):
                return synth()
        return run

    def strict():
        with determinism.deterministic():
            return synth()

    print(f"# deterministic.py, CPU: {model}, fast preset, {len(concepts)} concepts x {steps} steps, "
          f"{threads} thread(s), median of {repeats}; {common.machine()['cpu']}, load {common.machine().get('load_average_1_5_15')}")

    # the effect: images at 1 vs 2 threads, and two 2-thread runs
    rows = []
    for kind in ("before", "after"):
        run = way(kind)
        images = [[r.image for r in determinism.at_threads(t, run)] for t in (1, 2, 2)]
        rows.append([kind, _max_diff_255(images[0], images[1]), _max_diff_255(images[1], images[2]),
                     all(torch.equal(x, y) for x, y in zip(images[0], images[1]))])
    print("\n" + common.table(["formulation", "1 vs 2 threads: max pixel diff (/255)", "2 vs 2 again (/255)",
                               "1 vs 2 threads bit-identical"], rows))

    per_step = lambda seconds: seconds / steps * 1e3  # noqa: E731
    t = common.interleaved({"before": way("before"), "after": way("after"), "after + deterministic()": strict},
                           repeats)
    med = {k: common.median(v) for k, v in t.items()}
    print("\nA, C. synthesis, ms per step (both concepts in one batch):\n")
    print(common.table(["way", "ms/step"], [[k, f"{per_step(v):.1f}"] for k, v in med.items()]))
    print(f"\nafter / before = {med['after'] / med['before']:.2f}x; "
          f"deterministic() / plain = {med['after + deterministic()'] / med['after']:.2f}x")

    for name, (batch, canvas, shift, copies, resolutions) in {
        "toy-aligned fast preset (2 images, canvas 64, 5 scales, K = 4)": (2, 64, 4, 4, [4, 8, 16, 32, 64]),
        "paper geometry (1 image, canvas 448, 23 scales, K = 8, shifts 56)": (1, 448, 56, 8, list(range(8, 449, 20))),
    }.items():
        med = _parts(batch, canvas, shift, copies, resolutions, repeats * 5 if canvas < 256 else repeats)
        print(f"\nB. parameterisation + augmentation alone, forward + backward, {name}:\n")
        print(common.table(["way", "ms"], [[k, f"{v * 1e3:.2f}"] for k, v in med.items()]))
        print(f"\nafter / before = {med['after'] / med['before']:.2f}x")


def _parts(batch: int, canvas: int, shift: int, copies: int, resolutions: list[int], repeats: int) -> dict:
    from layerdream.synthesis import augment
    from layerdream.synthesis.param import MultiResolutionImage

    gen = torch.Generator().manual_seed(0)
    offsets, eps = augment.draw(gen, copies, canvas, shift, 0.1, torch.device("cpu"))
    upstream = torch.randn(batch * copies, 3, canvas, canvas, generator=gen)
    image = MultiResolutionImage(batch, canvas, resolutions)
    with torch.no_grad():
        for p in image.parameters():
            p.normal_(generator=gen)

    def way(kind: str):
        def run():
            with formulation(kind):
                image.zero_grad(set_to_none=True)
                augment.shift_and_noise(image(), offsets, eps, shift).backward(upstream)
        return run

    t = common.interleaved({"before": way("before"), "after": way("after")}, repeats)
    return {k: common.median(v) for k, v in t.items()}


def gpu_part(steps: int, repeats: int) -> None:
    if not torch.cuda.is_available():
        print("deterministic.py GPU part: skipped, no CUDA device (torch.cuda.is_available() is False)")
        return
    from layerdream.synthesis import determinism

    determinism.prepare()  # before the first cuBLAS call; both arms then share the workspace setting
    import layerdream as ld
    from layerdream.synthesis.param import resize

    from benchmarks.gpu import build_vlm

    vlm = build_vlm("cuda", torch.bfloat16)
    real = vlm.adapter.preprocess

    def preprocess(images):  # the wiring docs/reproducibility.md asks of the adapter (a no-op once it is there)
        if images.shape[-1] < vlm.image_size:
            images = resize(images, vlm.image_size)
        return real(images)

    vlm.adapter.preprocess = preprocess
    target = {"direction": torch.randn(vlm.hidden_size, generator=torch.Generator().manual_seed(0))}

    def synth():
        return ld.synthesize(vlm, [], layers=1, seeds=0, preset="paper", steps=steps, targets=target,
                             progress=False)[0].image

    def strict():
        with determinism.deterministic():
            return synth()

    same = {"default": torch.equal(synth(), synth()), "deterministic()": torch.equal(strict(), strict())}
    t = common.interleaved({"default": synth, "deterministic()": strict}, repeats, warmup=0)
    med = {k: common.median(v) for k, v in t.items()}
    print(f"\n# deterministic.py, GPU: {torch.cuda.get_device_name(0)}, {vlm.name}, bf16, paper preset, layer 1, "
          f"{steps} steps, median of {repeats}\n")
    print(common.table(["way", "s/step", "two runs bit-identical"],
                       [[k, f"{v / steps:.3f}", same[k]] for k, v in med.items()]))
    print(f"\ndeterministic() / default = {med['deterministic()'] / med['default']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy-aligned")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="threads for the timings (the effect uses 1 and 2)")
    parser.add_argument("--gpu-only", action="store_true")
    args = parser.parse_args()
    if not args.gpu_only:
        cpu_part(args.model, args.steps, args.repeats, args.threads)
    gpu_part(args.steps, args.repeats)


if __name__ == "__main__":
    main()
