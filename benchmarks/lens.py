"""Lens throughput: contextual index build (tokens/s), exact search, readout (images/s).

    OMP_NUM_THREADS=1 python benchmarks/lens.py --model toy-aligned --json benchmarks/results/lens-cpu-2core.json
    python benchmarks/lens.py --model toy-gemma --corpus-limit 400   # the real Gemma 3 270M (extra realmodel)

Rows, each measured side by side in one run (interleaved rounds; the best round is quoted):
  index build     sentences/s and tokens/s (every corpus token forwarded) into a fresh cache folder
  search          ms per 1024 queries, exact chunked top-5 over all text layers vs one unchunked matmul
  forward         one forward for every layer (early exit at the deepest) vs one forward per layer
  readout         images/s of `read_images` per lens (embedding, logit, contextual) and all three
Not part of suite.py: it needs no GPU and its numbers depend on the corpus size and the model.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def _best(fn, repeats: int) -> float:
    return min(_time(fn) for _ in range(repeats))


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(model: str = "toy-aligned", corpus_limit: int | None = None, n_images: int = 32, repeats: int = 3,
        quick: bool = False) -> dict:
    import layerdream as ld
    from layerdream.io import versions
    from layerdream.lens import images as IM
    from layerdream.lens.corpus import load_corpus
    from layerdream.lens.index import build_index, default_text_layers, encode_sentence
    from layerdream.lens.run import read_images

    if quick:
        corpus_limit, n_images, repeats = corpus_limit or 60, min(n_images, 4), 1
    vlm = ld.load(model, device="cpu")
    corpus = load_corpus("concepts", corpus_limit)
    fmt = vlm.resolve_prompt_format("chat")
    tokens = sum(len(enc[1]) for s in corpus.sentences if (enc := encode_sentence(vlm, s, fmt)) is not None)
    text_layers = default_text_layers(vlm.num_layers)
    builds, index = [], None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="lens-bench-") as tmp:
            t = time.perf_counter()
            index = build_index(vlm, corpus, text_layers, cache_dir=tmp, progress=False)
            builds.append(time.perf_counter() - t)
            keys = {layer: index.keys[layer].clone() for layer in index.layers}  # the search below outlives tmp
    seconds = min(builds)
    rows = {"index build": {"sentences": len(corpus), "tokens": tokens, "entries": len(index), "text_layers": text_layers,
                            "seconds": seconds, "tokens_per_s": tokens / seconds, "sentences_per_s": len(corpus) / seconds}}

    index.keys = keys
    q = torch.randn(1024, vlm.hidden_size)
    flat = torch.cat([keys[layer].float() for layer in index.layers])
    chunked = _best(lambda: index.search(q, 5, block=4096), repeats)
    whole = _best(lambda: (F.normalize(q, dim=-1) @ flat.T).topk(5, dim=1), repeats)
    rows["search"] = {"rows": int(flat.shape[0]), "ms_per_1024_queries_chunked": 1e3 * chunked,
                      "ms_per_1024_queries_one_matmul": 1e3 * whole, "chunked/one_matmul": chunked / whole}

    layers = list(range(1, vlm.num_layers + 1))
    x = IM.resize(IM.from_toyworld(16, seed=3).images, vlm.image_size)
    one, per = [], []
    for _ in range(repeats):  # interleaved
        one.append(_time(lambda: vlm.image_tokens_at(x, layers)))
        with torch.no_grad():
            per.append(_time(lambda: [vlm.image_tokens(x, layer) for layer in layers]))
    rows["forward"] = {"images": 16, "layers": layers, "one_forward_s": min(one), "forward_per_layer_s": min(per),
                       "per_layer/one": min(per) / min(one)}

    data = IM.from_toyworld(n_images, seed=4)
    readout = {}
    for lenses in (["embedding"], ["logit"], ["contextual"], ["embedding", "logit", "contextual"]):
        s = _best(lambda: read_images(vlm, data, layers, lenses, index=index, progress=False, measures=False), repeats)
        readout["+".join(lenses)] = {"seconds": s, "images_per_s": n_images / s}
    rows["readout"] = {"images": n_images, "layers": layers, "tokens_per_image": vlm.grid[0] * vlm.grid[1], **readout}
    return {"benchmark": "lens", "model": vlm.name, "corpus": corpus.name, "threads": torch.get_num_threads(),
            "repeats": repeats, "quick": quick, "rows": rows, "versions": versions(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def report(result: dict) -> str:
    r = result["rows"]
    b, s, f = r["index build"], r["search"], r["forward"]
    lines = [f"# lens, {result['model']}, corpus {result['corpus']}, {result['threads']} thread(s), best of {result['repeats']}",
             "| row | measured |", "|---|---|",
             f"| index build | {b['tokens_per_s']:.0f} tokens/s ({b['sentences_per_s']:.0f} sentences/s; {b['tokens']} tokens, "
             f"{b['entries']} entries kept, text layers {b['text_layers']}) |",
             f"| search, 1024 queries x {s['rows']} rows | chunked {s['ms_per_1024_queries_chunked']:.1f} ms, one matmul "
             f"{s['ms_per_1024_queries_one_matmul']:.1f} ms ({s['chunked/one_matmul']:.2f}x) |",
             f"| forward, {f['images']} images, layers {f['layers'][0]}-{f['layers'][-1]} | one forward {f['one_forward_s'] * 1e3:.0f} ms, "
             f"one per layer {f['forward_per_layer_s'] * 1e3:.0f} ms ({f['per_layer/one']:.2f}x) |"]
    for name, v in r["readout"].items():
        if isinstance(v, dict):
            lines.append(f"| readout {name} | {v['images_per_s']:.1f} images/s ({r['readout']['tokens_per_image']} tokens x "
                         f"{len(r['readout']['layers'])} layers each) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/lens.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="toy-aligned")
    parser.add_argument("--corpus-limit", type=int, default=None)
    parser.add_argument("--n-images", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = run(args.model, args.corpus_limit, args.n_images, args.repeats, args.quick)
    result["command"] = " ".join(sys.argv)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
