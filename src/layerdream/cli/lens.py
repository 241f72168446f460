"""``layerdream lens``: what each image token "says" at every layer: embedding, logit and contextual (LatentLens) lens (thin: ``layerdream.api.lens``)."""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .flags import add_model_flags, add_quiet_flag, int_list, positive_int

EPILOG = """examples:
  layerdream lens                                   # toy-aligned on 64 toy-world images, every layer, -> out/lens/
  layerdream lens --model toy-plain --layer 1,2 --lens embedding,logit --out runs/lens-plain
  layerdream lens --images runs/toy                 # a sweep RUN's synthesised images -> runs/toy/lens/ (in its report)
  layerdream lens --model google/gemma-3-4b-it --images photos/ --concepts my.yaml --tokens 32 --corpus latentlens --corpus-limit 20000
--images DIR: images directly in DIR are read but not graded; images in subfolders named after a concept of
--concepts are graded automatically. The contextual index is built once per (language model, corpus, text
layers) and cached under $LAYERDREAM_CACHE/lens (default ~/.cache/layerdream/lens); an interrupted build resumes.
--corpus latentlens reads the corpus bundled by `pip install --no-deps latentlens` (MIT) without importing it."""


def _tokens(text: str) -> int | str:
    if text == "all":
        return "all"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'all' or a positive number of tokens per image, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lens", help="lens readouts of image tokens per layer (embedding, logit, contextual/LatentLens), graded",
                       description=__doc__.splitlines()[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.set_defaults(model=None)
    p.add_argument("--images", default=None, metavar="DIR|RUN",
                   help="a folder of images, or a sweep RUN, read with the RUN's own model unless --model is given "
                        "(default: the toy world's images, labels known)")
    p.add_argument("--concepts", default=None, help="concepts that label a folder's subfolders: 'toy' (default), 'paper' or a .yaml/.csv file")
    p.add_argument("--layer", type=int_list, default=None, help="image-token layers to read, e.g. 1,5,10 (default: every layer)")
    p.add_argument("--lens", default="embedding,logit,contextual", help="comma list of embedding, logit, contextual (default: all three)")
    p.add_argument("--top-k", type=positive_int, default=5, help="candidates per token and lens (default 5; graded pass@k)")
    p.add_argument("--tokens", type=_tokens, default="all", help="image tokens per image: all (default) or a seeded sample of N")
    p.add_argument("--n-images", type=positive_int, default=64, help="toy-world images (default 64)")
    p.add_argument("--seed", type=int_list, default=[0], help="seed of the toy-world sample, the token sample and the nulls (one; default 0)")
    g = p.add_argument_group("contextual index")
    g.add_argument("--corpus", default="concepts", help="concepts (default: shipped templates over the toy and paper concepts), "
                   "latentlens, or a text file with one sentence per line")
    g.add_argument("--corpus-limit", type=positive_int, default=None, help="a seeded sample of at most N sentences (default: all)")
    g.add_argument("--text-layer", type=int_list, default=None,
                   help="text layers indexed (default: LatentLens's 1,2,4,8,16,24,N-2,N-1 within the model)")
    g.add_argument("--max-contexts", type=positive_int, default=50, help="contexts kept per token id (default 50, as LatentLens)")
    g.add_argument("--index-dir", default=None, help="cache folder for indexes (default: $LAYERDREAM_CACHE/lens)")
    g.add_argument("--rebuild-index", action="store_true", help="build the index again even if a cached one exists")
    p.add_argument("--prompt-format", choices=["chat", "raw"], default="chat",
                   help="text prompt of the corpus and concept vectors (default chat; raw where the model has no template)")
    p.add_argument("--no-measures", dest="measures", action="store_false",
                   help="skip the judge-free measures (retrieval, CKA, mutual-kNN), which need concept vectors")
    p.add_argument("--n-perm", type=positive_int, default=1000, help="permutations of each null (default 1000)")
    p.add_argument("--batch", type=positive_int, default=16, help="images per forward (default 16)")
    j = p.add_argument_group("LLM judge (LatentLens protocol: patch boxed + crop, the k candidates, a JSON answer; pass@k)")
    j.add_argument("--judge", choices=["none", "openai", "hf"], default="none",
                   help="grade a sample of readouts with an OpenAI-compatible VLM (openai) or a local transformers VLM "
                        "(hf, on --device) (default none: automatic grading only)")
    j.add_argument("--judge-model", default=None, help="openai: the model name, e.g. gpt-5 or what your server serves; "
                   "hf: a local folder or hub id")
    j.add_argument("--judge-max-new-tokens", type=positive_int, default=None,
                   help="hf: tokens generated per answer (default 256, room for the JSON)")
    j.add_argument("--judge-base-url", default=None, help="OpenAI-compatible endpoint (default: OpenAI)")
    j.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key (default OPENAI_API_KEY)")
    j.add_argument("--judge-sample", type=positive_int, default=20, help="readouts judged per lens and layer, seeded (default 20)")
    j.add_argument("--judge-cache", default=None, help="verdict cache file (default: OUT/lens_judge_cache.sqlite)")
    p.add_argument("--human-sample", type=positive_int, default=None,
                   help="also write N readouts per lens and layer (the judge's sample when N <= --judge-sample) for "
                        "people to grade: `layerdream annotate OUT --lens`")
    p.add_argument("--out", default=None, help="output folder (default out/lens; for a RUN: RUN/lens, shown by its report)")
    add_quiet_flag(p)
    p.set_defaults(func=cmd_lens)


def cmd_lens(args: argparse.Namespace) -> int:
    from ..api import lens

    if len(args.seed) != 1:
        raise UserError(f"lens draws one sample: give one --seed, not {','.join(map(str, args.seed))}")
    if args.concepts is not None and (args.images is None or _is_run(args.images)):  # was ignored, silently
        source = "a RUN" if args.images is not None else "the toy world (the default --images)"
        raise UserError(f"--concepts labels the subfolders of an --images folder; {source} has its own concepts: drop --concepts")
    out = args.out
    if out is None and not _is_run(args.images):  # a RUN's default is RUN/lens (the API's)
        out = "out/lens"
    result = lens(args.model, images=args.images, concepts=args.concepts or "toy", layers=args.layer, lenses=args.lens, k=args.top_k,
                  tokens=args.tokens, n_images=args.n_images, seed=args.seed[0], corpus=args.corpus,
                  corpus_limit=args.corpus_limit, text_layers=args.text_layer, max_contexts=args.max_contexts,
                  index_dir=args.index_dir, rebuild_index=args.rebuild_index, out=out, device=args.device,
                  dtype=args.dtype, prompt_format=args.prompt_format, measures=args.measures, n_perm=args.n_perm,
                  batch=args.batch, progress=not args.quiet, judge=_judge(args),
                  human_sample=args.human_sample)
    for line in result.summary():
        print(line)
    print(f"layerdream lens: wrote {result.folder}/lens.csv, lens_table.csv and the figures", file=sys.stderr)
    if args.human_sample:
        print(f"layerdream lens: {args.human_sample} readouts per lens and layer for people in {result.folder}/lens_human; "
              f"grade them with `layerdream annotate {result.folder} --lens`", file=sys.stderr)
    return 0


def _judge(args: argparse.Namespace) -> dict | None:
    if args.judge == "none":
        if args.judge_model or args.judge_base_url or args.judge_max_new_tokens or args.judge_cache:
            raise UserError("--judge-model/--judge-base-url/--judge-max-new-tokens/--judge-cache need --judge openai or hf")
        return None
    if args.judge == "hf":
        if args.judge_base_url:
            raise UserError("--judge hf runs the VLM here; drop --judge-base-url (or use --judge openai for a server)")
        return {"kind": "hf", "model": args.judge_model, "max_new_tokens": args.judge_max_new_tokens,
                "sample": args.judge_sample, "cache": args.judge_cache}
    if args.judge_max_new_tokens:
        raise UserError("--judge-max-new-tokens is for --judge hf; an endpoint's limit is its own")
    return {"model": args.judge_model, "base_url": args.judge_base_url, "api_key_env": args.judge_api_key_env,
            "sample": args.judge_sample, "cache": args.judge_cache}


def _is_run(path: str | None) -> bool:
    import os

    return path is not None and os.path.isfile(os.path.join(path, "sweep.sqlite"))
