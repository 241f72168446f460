"""Thread-count bit-identity on CPU and what it costs: MKL's strict CNR mode (``MKL_CBWR=AUTO,STRICT``).

docs/reproducibility.md promised a bit-identical PNG at any thread count; on the shipped
``toy-gemma-aligned`` (the real Gemma 3 270M LM) 1 vs 2 threads gave images up to 150/255 apart. The
cause is MKL's sgemm, which splits a long reduction by thread count (block 1's ``o_proj`` and
``down_proj``: 1024- and 2048-long sums; PyTorch's CPU flash attention is built on the same gemm).
MKL's strict conditional-numerical-reproducibility mode makes gemm independent of the thread count;
layerdream now sets it (``import layerdream`` does ``os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")``).

MKL reads the variable once, at its first call, so each setting runs in its own child process; the
children alternate (default, strict, default, strict, ...) so that load drifts hit both. Each child
loads toy-gemma-aligned and times the synthesis hot path (layer-1 image tokens of K copies, forward +
backward to the pixels) by CPU time at 1 thread, then checks bit-identity of that step's gradient and
of a concept vector at 1 vs 2 threads.

    PYTHONPATH=src python benchmarks/thread_identity.py [--rounds 3] [--steps 8] [--copies 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {"default (MKL_CBWR unset)": None, "MKL_CBWR=AUTO,STRICT": "AUTO,STRICT"}


def child(steps: int, copies: int) -> dict:
    import torch

    import layerdream as ld
    from layerdream.concepts import concept_vector

    vlm = ld.load("toy-gemma-aligned", device="cpu")
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(copies, 3, vlm.image_size, vlm.image_size, generator=g)

    def step():
        x = x0.clone().requires_grad_(True)
        vlm.image_tokens(x, 1).pow(2).mean().backward()
        return x.grad

    torch.set_num_threads(1)
    step()
    cpu = []
    for _ in range(steps):
        started = time.process_time()
        step()
        cpu.append(time.process_time() - started)
    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        vlm.cache.clear()
        out[threads] = (step(), concept_vector(vlm, "red", 1))
    return {"mkl_cbwr": os.environ.get("MKL_CBWR"), "cpu_step_best": min(cpu), "cpu_steps": cpu,
            "grad_1v2_max": float((out[1][0] - out[2][0]).abs().max()),
            "vector_1v2_max": float((out[1][1] - out[2][1]).abs().max())}


def run(rounds: int, steps: int, copies: int) -> dict:
    results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for _ in range(rounds):
        for name, value in SETTINGS.items():
            env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
            if value is not None:
                env["MKL_CBWR"] = value
            else:
                env["LAYERDREAM_BENCH_NO_CBWR"] = "1"  # the child unsets what `import layerdream` would set
            env["OMP_NUM_THREADS"] = "2"
            proc = subprocess.run([sys.executable, __file__, "--child", str(steps), str(copies)], env=env,
                                  capture_output=True, text=True, check=True)
            results[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    summary = {name: {"cpu_step_best": min(r["cpu_step_best"] for r in rs),
                      "grad_1v2_max": max(r["grad_1v2_max"] for r in rs),
                      "vector_1v2_max": max(r["vector_1v2_max"] for r in rs),
                      "mkl_cbwr": rs[0]["mkl_cbwr"]} for name, rs in results.items()}
    return {"rounds": rounds, "steps": steps, "copies": copies, "summary": summary, "children": results,
            "load_average": os.getloadavg()}


def report(result: dict) -> str:
    s = result["summary"]
    (dname, d), (sname, st) = s.items()
    lines = [f"toy-gemma-aligned, layer 1, K={result['copies']}: best CPU time per step at 1 thread over "
             f"{result['rounds']} alternating child processes x {result['steps']} steps; load {result['load_average']}",
             "", "| setting | CPU s/step (1 thread) | gradient to the pixels, 1 vs 2 threads | concept vector, 1 vs 2 threads |",
             "|---|---|---|---|"]
    for name, r in ((dname, d), (sname, st)):
        lines.append(f"| {name} | {r['cpu_step_best']:.4f} | {r['grad_1v2_max']:.3g} | {r['vector_1v2_max']:.3g} |")
    lines.append(f"\nstrict / default CPU time: {st['cpu_step_best'] / d['cpu_step_best']:.3f}x")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        if os.environ.pop("LAYERDREAM_BENCH_NO_CBWR", None):
            import layerdream  # noqa: F401 (its setdefault runs here) ...

            os.environ.pop("MKL_CBWR", None)  # ... and is undone before torch's first MKL call
        print(json.dumps(child(int(sys.argv[2]), int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.rounds, args.steps, args.copies)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
