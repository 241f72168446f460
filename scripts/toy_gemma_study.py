"""Which choices make a captioning-trained adapter on the real Gemma 3 270M align with text, and where?

Trains toy-gemma variants (one change each from the shipped recipe) for several seeds through the
same function as `layerdream toyworld train --stage toy-gemma` (`gemma_train.run_recipe`), and
probes each: does it read the images (teacher-forced concept words), and at which layers do its
image tokens retrieve their own concepts among the category's concept vectors. Resumable: a
finished run is skipped, an interrupted one continues from its checkpoint. A `cot-full` run (no adapters
to ship) also writes `<out>/cot-full_s<seed>/model`, a plain transformers folder (~1 GB) that the
product's own commands load (`layerdream toyworld calibrate --model .../model`, `layerdream align`).

    python scripts/toy_gemma_study.py --variant linear --seed 0 1 2 --out runs/toy-gemma-study
    python scripts/toy_gemma_study.py --summarise --out runs/toy-gemma-study   # markdown table
    python scripts/toy_gemma_study.py --collect docs/calibration/toy-gemma-study.json --out runs/toy-gemma-study
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

VARIANTS = {
    "linear": {},                       # the shipped toy-gemma: Gemma 3's linear projector, frozen tower, 16 tokens
    "mlp": {"projector": "mlp"},        # LLaVA's two-layer MLP projector
    "tower": {"train_tower": True},     # the tower trained too (lr x 0.1)
    "tokens64": {"tokens": 64},         # one image token per 8x8 patch instead of 4x4 pooled
    "lr1e-2": {"lr": 1e-2},             # a higher learning rate
    "aligned": {"align_layers": (1, 2)},  # the positive control's recipe
}
# toy-gemma-cotrained (stage 2 from the shipped toy-gemma: projector + LoRA on the LM + text retention)
COTRAINED = {
    "cotrained": {},                                     # the shipped recipe: LoRA rank 8 on all 18 blocks
    "cot-projector": {"lm": None, "retention": 0.0},     # control: the same stage 2 with the LM frozen
    "cot-rank2": {"lora_rank": 2, "lora_alpha": 4},      # LoRA rank (alpha / r = 2 throughout)
    "cot-rank32": {"lora_rank": 32, "lora_alpha": 64},
    "cot-first4": {"lora_blocks": "first-4"},            # only blocks 1-4 trainable (make layers 1-4)
    "cot-last4": {"lora_blocks": "last-4"},              # only blocks 15-18 trainable
    "cot-full": {"lm": "full", "lm_lr": 1e-4},           # full fine-tuning of the blocks' attention and MLP
    "cot-noretention": {"retention": 0.0},               # without the text-retention term
}


def run(variant: str, seed: int, out: Path, threads: int) -> None:
    import torch
    from safetensors.torch import save_file

    from layerdream.io import atomic_write_json, versions
    from layerdream.toyworld import checkpoint_path, gemma, gemma_train
    from transformers import AutoConfig

    folder = out / f"{variant}_s{seed}"
    if (folder / "metrics.json").is_file():
        print(f"{folder.name}: done earlier, skipped")
        return
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    if variant in COTRAINED:  # stage 2 continues from the shipped toy-gemma (seed 0 of stage 1)
        recipe = {**gemma_train.RECIPES["toy-gemma-cotrained"], **COTRAINED[variant]}
        start = gemma.small_weights(checkpoint_path("toy-gemma") / "model.safetensors")
    else:
        recipe = {**gemma_train.RECIPES["toy-gemma"], **VARIANTS[variant]}
        start = gemma.tower_state(checkpoint_path("toy-aligned") / "model.safetensors")
    toy = checkpoint_path("toy-aligned")
    log = open(folder / "train.log", "a")
    model, proc, metrics = gemma_train.run_recipe(
        recipe, seed=seed, vision_config=AutoConfig.from_pretrained(toy).vision_config.to_dict(),
        tower_state=start, checkpoint=folder / "partial.pt",
        progress=lambda s: print(s, file=log, flush=True), name=f"{variant}_s{seed}")
    save_file(gemma.small_state(model), str(folder / "small.safetensors"))
    if recipe.get("lm") == "lora":
        from layerdream.toyworld.gemma_lora import lora_state

        save_file(lora_state(model), str(folder / "lora.safetensors"))
    if recipe.get("lm") == "full":  # no adapters to merge: a whole transformers folder (~1 GB), so the
        model.save_pretrained(folder / "model")  # product's own commands (calibrate, align) can load it
        proc.save_pretrained(folder / "model")  # as they load any Gemma 3 checkpoint: --model DIR/model
    atomic_write_json(folder / "metrics.json", {"variant": variant, **metrics, "versions": versions()})
    (folder / "partial.pt").unlink(missing_ok=True)
    print(f"{folder.name}: {json.dumps(metrics['probe']['retrieval'])}")


def shipped_cotrained() -> dict:
    """The shipped toy-gemma-cotrained's own training record (seed 0 of the recipe, trained by
    `layerdream toyworld train --stage toy-gemma-cotrained` through the same `run_recipe`), as a study run."""
    from layerdream.toyworld import checkpoint_path

    record = json.loads((checkpoint_path("toy-gemma-cotrained") / "toyworld.json").read_text())
    return {"variant": "cotrained", **record["training"], "versions": record["versions"]}


def summarise(out: Path) -> str:
    if out.suffix == ".json":  # the collected records (docs/calibration/toy-gemma-study.json: folder name -> metrics)
        runs = list(json.loads(out.read_text()).values())
    else:
        runs = [json.loads(f.read_text()) for f in sorted(out.glob("*/metrics.json"))]
    if runs and not any(r["variant"] == "cotrained" and r["seed"] == 0 for r in runs):
        runs.append(shipped_cotrained())  # seed 0 of the shipped recipe is the shipped model itself
    if not runs:
        return f"no finished runs in {out}"
    layers = list(runs[0]["probe"]["retrieval"])
    cats = list(runs[0]["probe"]["chance"])
    detail = {"1", "4"}  # per category; other layers: the mean over categories
    fmt = lambda xs: f"{statistics.mean(xs):.2f}" + (f" ± {statistics.stdev(xs):.2f}" if len(xs) > 1 else "")  # noqa: E731
    chance = runs[0]["probe"]["chance"]
    lines = [f"Retrieval of each held-out image's own concept among its category's concept vectors (n = "
             f"{runs[0]['probe']['n']} images per run; {' / '.join(cats)}, chance "
             + " / ".join(f"{chance[c]:.2f}" for c in cats) + f", mean {statistics.mean(chance.values()):.2f}); "
             "mean ± sd over seeds. Layers 1 and 4 per category, the others as the mean over categories.", "",
             "| variant | seeds | caption loss (last 100 steps) | reads the image | " + " | ".join(f"layer {l}" for l in layers)
             + " | LM drift: KL per token, held-out text (perplexity frozen -> now) |",
             "|---" * (5 + len(layers)) + "|"]
    for variant in {**VARIANTS, **COTRAINED}:
        rs = [r for r in runs if r["variant"] == variant]
        if not rs:
            continue
        cells = []
        for l in layers:
            if l in detail:
                cells.append(" / ".join(fmt([r["probe"]["retrieval"][l][c] for r in rs]) for c in cats))
            else:
                cells.append(fmt([statistics.mean(r["probe"]["retrieval"][l].values()) for r in rs]))
        reads = " / ".join(fmt([r["probe"]["caption_word_accuracy"][c] for r in rs]) for c in cats)
        loss = fmt([r["caption_loss_by_100_steps"][-1] for r in rs])  # mean of the last 100 steps
        drift = [r["lm_drift"] for r in rs if "lm_drift" in r]
        kls = [d["kl_per_token"] for d in drift]
        dcell = (f"{statistics.mean(kls):.3g}" + (f" ± {statistics.stdev(kls):.2g}" if len(kls) > 1 else "") + f" ({fmt([d['perplexity_frozen'] for d in drift])} -> "
                 f"{fmt([d['perplexity_now'] for d in drift])})") if drift else "0 (LM frozen)"
        lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in rs)} | {loss} | {reads} | " + " | ".join(cells)
                     + f" | {dcell} |")
    return "\n".join(lines)


def calibration_table(files: list[Path]) -> str:
    """One table over several `toyworld calibrate` runs of one model (e.g. layers 1,2 with 3 seeds and
    layers 4-18 with 1 seed). The judge's base rate is pooled over every random-direction control of
    the model (a few per layer are too few for a per-layer base rate), and the concept-level sign test
    counts the concepts hit more often than that pooled rate."""
    from layerdream.toyworld import world
    from layerdream.toyworld.calibrate import p_at_least, wilson

    unique = {}  # a resumed run into a new folder repeats the cells it reused: count each image once
    for f in files:
        for r in json.loads(Path(f).read_text())["records"]:
            unique[(r["layer"], r["seed"], r["label"])] = r
    records = list(unique.values())
    controls = [r for r in records if r["kind"] == "random"]
    base = {c: sum(r["judged"][world.concept_category(c)] == c for r in controls) / len(controls) for c in world.CONCEPTS}
    cats = list(world.CATEGORIES)
    chance = " / ".join(f"{1 / len(v):.2f}" for v in world.CATEGORIES.values())
    lines = [f"{len(controls)} random-direction controls pooled over layers for the judge's base rate; chance "
             f"{chance}. 'random directions': the controls' hit rate on their nominal labels (a few per layer, so "
             "only the first categories get labels).", "",
             "| layer | images per concept | " + " | ".join(cats) + " | mean | random directions (mean) | "
             "concepts above the pooled base rate (sign test) |", "|---" * (len(cats) + 5) + "|"]
    for layer in sorted({r["layer"] for r in records}):
        rec = [r for r in records if r["layer"] == layer]
        cells, means, rand = [], [], []
        for cat in cats:
            rs = [r for r in rec if r["kind"] == "concept" and r["category"] == cat]
            hits = sum(r["hit"] for r in rs)
            lo, hi = wilson(hits, len(rs))
            cells.append(f"{hits / len(rs):.2f} [{lo:.2f}, {hi:.2f}]")
            means.append(hits / len(rs))
            rr = [r for r in rec if r["kind"] == "random" and r["category"] == cat]
            if rr:
                rand.append(sum(r["hit"] for r in rr) / len(rr))
        per = {c: [r["hit"] for r in rec if r["kind"] == "concept" and r["concept"] == c] for c in world.CONCEPTS}
        above = sum(sum(h) / len(h) > base[c] for c, h in per.items() if h)
        n_img = len(next(iter(per.values())))
        lines.append(f"| {layer} | {n_img} | " + " | ".join(cells) + f" | {sum(means) / len(means):.2f} | "
                     f"{sum(rand) / len(rand):.2f} (n={sum(r['kind'] == 'random' for r in rec)}) | "
                     f"{above} of {len(per)} (p = {p_at_least(above, len(per), 0.5):.2g}) |")
    return "\n".join(lines)


def align_table(csv_files: list[Path], aggregation: str = "mean") -> str:
    """Per layer, from `layerdream align` CSVs: mean cosine of matching / mismatching / noise images with
    the concept vectors, the mean margin (matching - mismatching) and how many of the 20 concepts
    have a positive margin (one-sided sign test)."""
    import csv

    from layerdream.toyworld.calibrate import p_at_least

    header = "| layer | " + " | ".join(f"{Path(f).parent.name.removesuffix('_align')}: matching / mismatching / noise, margin (concepts > 0)"
                                      for f in csv_files) + " |"
    tables = []
    for f in csv_files:
        rows = [r for r in csv.DictReader(open(f)) if r["aggregation"] == aggregation and r["concept"] != "All"]
        by_layer: dict[int, list] = {}
        for r in rows:
            by_layer.setdefault(int(r["layer"]), []).append(r)
        tables.append(by_layer)
    lines = [header, "|---" * (1 + len(csv_files)) + "|"]
    for layer in sorted(tables[0]):
        cells = []
        for by_layer in tables:
            rs = by_layer[layer]
            m = lambda k: statistics.mean(float(r[k]) for r in rs)  # noqa: E731
            pos = sum(float(r["margin"]) > 0 for r in rs)
            cells.append(f"{m('matching'):+.2f} / {m('mismatching'):+.2f} / {m('noise'):+.2f}, **{m('margin'):+.2f}** "
                         f"({pos}/{len(rs)}, p = {p_at_least(pos, len(rs), 0.5):.2g})")
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", choices=list(VARIANTS) + list(COTRAINED), default="linear",
                   help="a toy-gemma variant, or a toy-gemma-cotrained one (cotrained = the shipped stage 2, cot-*)")
    p.add_argument("--seed", type=int, nargs="+", default=[0])
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summarise", action="store_true", help="print the table of finished runs in --out (a study folder, "
                   "or a collected JSON such as docs/calibration/toy-gemma-study.json) and exit")
    p.add_argument("--collect", type=Path, default=None, metavar="JSON",
                   help="add the finished runs in --out to this collected JSON (folder name -> metrics) and exit")
    p.add_argument("--calibration", type=Path, nargs="+", default=None, metavar="JSON",
                   help="print one table over these calibration.json files of one model and exit")
    p.add_argument("--align", type=Path, nargs="+", default=None, metavar="CSV",
                   help="print the per-layer table of these `layerdream align` alignment.csv files and exit")
    args = p.parse_args(argv)
    if args.align:
        print(align_table(args.align))
        return 0
    if args.calibration:
        print(calibration_table(args.calibration))
        return 0
    if args.collect:
        collected = json.loads(args.collect.read_text()) if args.collect.is_file() else {}
        for f in sorted(args.out.glob("*/metrics.json")):
            collected[f.parent.name] = json.loads(f.read_text())
        from layerdream.io import atomic_write_json

        atomic_write_json(args.collect, collected)
        print(f"{args.collect}: {len(collected)} runs")
        return 0
    if args.summarise:
        print(summarise(args.out))
        return 0
    if args.out is None:
        p.error("--out is required")
    for seed in args.seed:
        run(args.variant, seed, args.out, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
