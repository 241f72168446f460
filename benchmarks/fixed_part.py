"""B1's layer-1 step before and after issue 19.10, side by side in one run (interleaved).

docs/performance.md quoted early exit at layer 1 as 7.04x faster than ``model.model`` (0.96 of the
FLOP ideal); a reviewer measured 5.6-5.9x. Two things sat in the fixed part of every step, the part
early exit cannot skip (vision tower, block 1, backward):

* the benchmark's own overhead: it drew ``torch.rand`` pixels inside the timed step;
* the stride = kernel patch convolution, whose input gradient ran at a fraction of the matmul rate
  (now one matmul over the patches: ``layerdream.models.patch_embed``, same numbers to fp32 rounding).

Ways, on B1's model (the real Gemma 3 270M LM + a small random SigLIP, 8 copies, 77 tokens):

  old-early / old-full   the old benchmark step: rand inside the step, PyTorch's convolution
  conv-early / conv-full rand outside the step, PyTorch's convolution
  new-early / new-full   rand outside, the matmul patch embedding (what the engine runs now)

"early" is layerdream's early exit at layer 1, "full" is ``model.model`` (all 18 blocks). Reported:
the best of the interleaved rounds (and medians), the three speed-ups beside the FLOP ideal, and the
patch embedding alone (forward + input gradient) with each implementation.

    PYTHONPATH=src python benchmarks/fixed_part.py [--repeats 7] [--copies 8] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common, early_exit, flops  # noqa: E402


@contextmanager
def pytorch_convolution(model):
    """PyTorch's own Conv2d forward on the patch embeddings while inside (the state before 19.10)."""
    from layerdream.models.patch_embed import MARK

    patched = [m for m in model.modules() if getattr(m, MARK, False)]
    saved = [vars(m).pop("forward") for m in patched]
    try:
        yield
    finally:
        for m, fwd in zip(patched, saved):
            m.forward = fwd


def old_step(vlm, inputs, image_pos, side, copies, layer, way):
    """The benchmark step as it was: fresh ``torch.rand`` pixels inside the timed step."""
    def step() -> None:
        pixels = torch.rand(copies, 3, side, side, device=vlm.device, requires_grad=True)
        feed = dict(inputs, pixel_values=(pixels * 2 - 1).to(vlm.dtype))
        if way == "early":
            hidden = vlm.residual(layer, **feed)
        else:
            hidden = vlm.backbone(**feed, use_cache=False, output_hidden_states=True).hidden_states[layer]
        hidden[:, image_pos].float().pow(2).mean().backward()

    return step


def with_conv(model, fn):
    def step():
        with pytorch_convolution(model):
            fn()
    return step


def run(copies: int = 8, repeats: int = 7, layer: int = 1) -> dict:
    from layerdream.models.reference import gemma3_270m_with_vision
    from layerdream.models.vlm import VLM

    tokens, side = 64, 224
    model = gemma3_270m_with_vision(image_size=side, patch_size=14, tokens_per_image=tokens)
    vlm = VLM(model, None, adapter=None, name="gemma3-270m+vision")  # installs the matmul patch embedding
    ids = torch.tensor([early_exit.reference_prompt_ids(tokens)])
    ids[ids == 262144] = model.config.image_token_id
    prompt = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": (ids == model.config.image_token_id).long()}
    image_pos = (ids[0] == model.config.image_token_id).nonzero().flatten()
    inputs = {k: v.expand(copies, -1) for k, v in prompt.items()}
    with torch.no_grad():
        inputs["attention_mask"] = early_exit.capture_masks(vlm, dict(inputs, pixel_values=torch.rand(copies, 3, side, side)))
    pre = lambda x: {"pixel_values": x * 2 - 1}  # noqa: E731
    new = {w: early_exit.make_step(vlm, inputs, image_pos, pre, side, copies, way, layer)
           for w, way in (("early", "early-exit"), ("full", "full-model"))}
    ways = {
        "old-early": with_conv(model, old_step(vlm, inputs, image_pos, side, copies, layer, "early")),
        "old-full": with_conv(model, old_step(vlm, inputs, image_pos, side, copies, layer, "full")),
        "conv-early": with_conv(model, early_exit.make_step(vlm, inputs, image_pos, pre, side, copies, "early-exit", layer)),
        "conv-full": with_conv(model, early_exit.make_step(vlm, inputs, image_pos, pre, side, copies, "full-model", layer)),
        "new-early": new["early"], "new-full": new["full"],
    }
    # the patch embedding alone: forward + input gradient, as in the step
    from layerdream.models.patch_embed import MARK

    conv = next(m for m in model.modules() if getattr(m, MARK, False))
    x = torch.rand(copies, 3, side, side, requires_grad=True)

    def embed():
        x.grad = None
        conv(x * 2 - 1).flatten(2).transpose(1, 2).sum().backward()

    ways["embed-conv"] = with_conv(model, embed)
    ways["embed-matmul"] = embed
    times, cpu = common.interleaved_clocks(ways, repeats)
    best = {w: common.best(t) for w, t in times.items()}
    cpu_best = {w: common.best(t) for w, t in cpu.items()}
    ideal = flops.step_flops(model.config, layer, int(ids.shape[-1]))
    ideal_ratio = ideal.full_model / ideal.early_exit
    speedups = {name: {"measured": best[f"{name}-full"] / best[f"{name}-early"],
                       "median": common.median(times[f"{name}-full"]) / common.median(times[f"{name}-early"]),
                       "of_ideal": best[f"{name}-full"] / best[f"{name}-early"] / ideal_ratio,
                       "cpu_time": cpu_best[f"{name}-full"] / cpu_best[f"{name}-early"],
                       "cpu_time_of_ideal": cpu_best[f"{name}-full"] / cpu_best[f"{name}-early"] / ideal_ratio}
                for name in ("old", "conv", "new")}
    return {"benchmark": "fixed part of B1's layer-1 step (issue 19.10)", "layer": layer, "copies": copies,
            "repeats": repeats, "ideal": ideal_ratio, "seconds_best": best, "cpu_seconds_best": cpu_best,
            "cpu_samples": cpu,
            "seconds_median": {w: common.median(t) for w, t in times.items()}, "samples": times,
            "speedups": speedups, "machine": common.machine(), "date": common.now()}


def report(result: dict) -> str:
    b, c, s = result["seconds_best"], result["cpu_seconds_best"], result["speedups"]
    rows = [[label, common.fmt(b[f"{name}-early"]), common.fmt(b[f"{name}-full"]), common.ratio(s[name]["measured"]),
             f"{s[name]['of_ideal']:.2f}", common.fmt(c[f"{name}-early"]), common.fmt(c[f"{name}-full"]),
             common.ratio(s[name]["cpu_time"]), f"{s[name]['cpu_time_of_ideal']:.2f}"]
            for name, label in (("old", "before: rand in the step, convolution"), ("conv", "rand outside, convolution"),
                                ("new", "rand outside, matmul patch embedding (now)"))]
    table = common.table(["step", "early exit s (wall)", "model.model s (wall)", "speed-up (wall)", "of ideal",
                          "early exit s (CPU)", "model.model s (CPU)", "speed-up (CPU time)", "of ideal"], rows)
    m = result["machine"]
    return (f"layer {result['layer']}, K={result['copies']}, best of {result['repeats']} interleaved rounds; FLOP ideal "
            f"{result['ideal']:.2f}x; load average {m.get('load_average_1_5_15')} on {m['logical_cpus']} CPUs, "
            f"{m['torch_threads']} torch thread(s)\n\n{table}\n\npatch embedding alone (fwd + input grad, CPU time): "
            f"convolution {c['embed-conv'] * 1e3:.1f} ms, matmul {c['embed-matmul'] * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    result = run(args.copies, args.repeats)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
