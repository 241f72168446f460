"""The memory table of docs/performance.md, from the memory model (`layerdream.synthesis.memory`).

Gemma 3 4B's real config (no weights are built: the parameter count comes from a meta-device model):
GiB kept for backward per image (K = 8 copies, layer 1 and layer 30) by SigLIP input resolution and
dtype, and the concepts per forward the planner picks on 24/40/80/141 GB cards (weights and ~1.5 GiB
of CUDA context subtracted first). The model is validated on CPU against autograd's saved tensors
(tests/synthesis/test_memory.py, tests/models/test_real_geometry.py); on a GPU, `benchmarks/suite.py
--only B4` prints the measured peak beside the prediction.

    python benchmarks/memory_table.py
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # python benchmarks/memory_table.py: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layerdream.synthesis.memory import GiB, concept_bytes, copy_cost
from layerdream.synthesis.presets import make_config

CARDS_GB = (24, 40, 80, 141)
CONTEXT = 1.5 * GiB  # CUDA context, cuBLAS workspaces, allocator slack


def gemma3_4b_config(image_size: int = 896):
    from transformers import Gemma3Config

    from benchmarks.gpu import GEMMA3_4B_TEXT, GEMMA3_4B_TOKENS, GEMMA3_4B_VISION, layer_types

    text = dict(GEMMA3_4B_TEXT, layer_types=layer_types(GEMMA3_4B_TEXT["num_hidden_layers"]))
    return Gemma3Config(vision_config=dict(GEMMA3_4B_VISION, image_size=image_size), text_config=text,
                        mm_tokens_per_image=GEMMA3_4B_TOKENS)


def parameter_bytes(config, dtype: torch.dtype) -> int:
    from transformers import Gemma3ForConditionalGeneration

    with torch.device("meta"):
        model = Gemma3ForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters()) * torch.empty((), dtype=dtype).element_size()


def table() -> dict:
    rows = []
    prompt_length = 256 + 14  # the image-only chat turn around 256 image tokens
    for size in (224, 448, 896):
        config = gemma3_4b_config(size)
        cfg = make_config("paper", image_size=size, grid=(16, 16), layer=1, num_layers=34)
        for dtype in (torch.bfloat16, torch.float32):
            weights = parameter_bytes(config, dtype)
            for layer in (1, 30):
                for ckpt in (False, True):
                    cost = copy_cost(config, layer, size, cfg.canvas, prompt_length, dtype, ckpt, fused_attention=True)
                    image = concept_bytes(cfg) + cfg.copies * cost.total
                    fits = {}
                    for card in CARDS_GB:
                        budget = card * 1e9 - weights - CONTEXT
                        fits[card] = max(0, int(budget // image)) if budget > 0 else 0
                    rows.append({"resolution": size, "dtype": str(dtype).removeprefix("torch."), "layer": layer,
                                 "checkpoint_vision": ckpt, "weights_gib": weights / GiB,
                                 "gib_per_copy": cost.total / GiB, "gib_per_image": image / GiB,
                                 "concepts_per_forward": fits})
    return {"model": "Gemma 3 4B (gemma-3-4b-it config)", "copies": 8, "rows": rows}


def markdown(data: dict) -> str:
    out = ["| SigLIP input | dtype | layer | tower checkpointed | weights GiB | GiB per copy | GiB per image (K=8) | "
           + " | ".join(f"concepts/forward on {c} GB" for c in CARDS_GB) + " |",
           "|---|---|---|---|---|---|---|" + "---|" * len(CARDS_GB)]
    for r in data["rows"]:
        fits = " | ".join(str(r["concepts_per_forward"][c]) if r["concepts_per_forward"][c] else "micro-batch"
                          for c in CARDS_GB)
        out.append(f"| {r['resolution']} px | {r['dtype']} | {r['layer']} | {'yes' if r['checkpoint_vision'] else 'no'} | "
                   f"{r['weights_gib']:.1f} | {r['gib_per_copy']:.2f} | {r['gib_per_image']:.1f} | {fits} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="also write the numbers as JSON")
    args = parser.parse_args()
    data = table()
    print(markdown(data))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)


if __name__ == "__main__":
    main()
