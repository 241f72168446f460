"""The measurement behind the contextual lens's default corpus (docs/lens.md, "Which corpus").

    pip install --no-deps --target /tmp/ll latentlens          # its data only; `pip install latentlens` replaces torch
    OMP_NUM_THREADS=1 PYTHONPATH=src:/tmp/ll python scripts/lens_corpus_choice.py --json docs/lens/corpus-choice.json

For the shipped template corpus ("concepts") and the latentlens wheel's 117k sentences:
  * how many sentences each model's tokenizer can read (no <unk>): toy-aligned's 90 words, Gemma 3's 262k;
  * how many sentences name a toy-world concept (the words the automatic grading accepts);
  * tokens to index, and the build time this CPU would need at the measured tokens/s (toy-gemma: Gemma 3 270M);
  * the contextual lens's interpretable rate and null on toy-gemma-aligned's images with each corpus
    (the latentlens corpus as a seeded sample of --sample sentences, the same index layers).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=1500, help="latentlens sentences indexed for the rate comparison")
    parser.add_argument("--scan", type=int, default=10000, help="latentlens sentences scanned for readability (seeded sample)")
    parser.add_argument("--n-images", type=int, default=32)
    parser.add_argument("--layers", default="1,2,4,8")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    import layerdream as ld
    from layerdream.lens import images as IM
    from layerdream.lens.corpus import load_corpus
    from layerdream.lens.index import build_index, encode_sentence
    from layerdream.lens.run import read_images
    from layerdream.toyworld.world import CONCEPTS

    concepts = load_corpus("concepts")
    full = load_corpus("latentlens")
    rng = random.Random(0)
    scanned = [full.sentences[i] for i in sorted(rng.sample(range(len(full)), min(args.scan, len(full))))]
    word = re.compile(r"\b(" + "|".join(CONCEPTS) + r")\b", re.IGNORECASE)
    out: dict = {"latentlens_sentences": len(full), "concepts_sentences": len(concepts), "scan": len(scanned), "models": {}}
    for name in ("toy-aligned", "toy-gemma-aligned"):
        vlm = ld.load(name, device="cpu")
        fmt = vlm.resolve_prompt_format("chat")
        row = {}
        for label, sentences in (("concepts", concepts.sentences), ("latentlens", scanned)):
            enc = [encode_sentence(vlm, s, fmt) for s in sentences]
            ok = [e for e in enc if e is not None]
            row[label] = {"sentences": len(sentences), "readable": len(ok),
                          "tokens": sum(len(e[1]) for e in ok),
                          "with_toy_concept_word": sum(bool(word.search(s)) for s, e in zip(sentences, enc) if e is not None)}
        out["models"][name] = row
        print(name, json.dumps(row), flush=True)
    vlm = ld.load("toy-gemma-aligned", device="cpu")
    layers = [int(x) for x in args.layers.split(",")]
    data = IM.from_toyworld(args.n_images, seed=5)
    sample = load_corpus("latentlens", args.sample, seed=0)
    out["rates"] = {}
    with tempfile.TemporaryDirectory(prefix="corpus-choice-") as tmp:
        for label, corpus in (("concepts", concepts), (f"latentlens[{args.sample}]", sample)):
            t = time.perf_counter()
            index = build_index(vlm, corpus, cache_dir=tmp, progress=False)
            seconds = time.perf_counter() - t
            fmt = vlm.resolve_prompt_format("chat")
            tokens = sum(len(e[1]) for s in corpus.sentences if (e := encode_sentence(vlm, s, fmt)) is not None)
            res = read_images(vlm, data, layers, ["contextual"], index=index, progress=False, measures=False)
            rates = {r["layer"]: {"rate": r["rate"], "null": r["null_rate"], "ci": [r["ci_lo"], r["ci_hi"]], "n": r["n_tokens"]}
                     for r in res.table if r["category"] == "All"}
            out["rates"][label] = {"entries": len(index), "build_seconds": seconds, "tokens": tokens,
                                   "tokens_per_s": tokens / seconds, "by_layer": rates}
            print(label, json.dumps(out["rates"][label]), flush=True)
    tps = out["rates"][f"latentlens[{args.sample}]"]["tokens_per_s"]
    per_sentence = out["models"]["toy-gemma-aligned"]["latentlens"]["tokens"] / max(1, out["models"]["toy-gemma-aligned"]["latentlens"]["readable"])
    out["projected_full_latentlens_hours_toy_gemma_cpu"] = len(full) * per_sentence / tps / 3600
    out["command"] = " ".join(sys.argv)
    print(json.dumps({k: out[k] for k in ("projected_full_latentlens_hours_toy_gemma_cpu",)}))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
