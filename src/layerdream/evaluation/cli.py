"""Judge flags shared by every command that judges (``layerdream judge RUN`` in sweep/ and
``layerdream judge-image`` here), so ``--judge openai --judge-model gpt-5`` means the same everywhere.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UserError
from .evaluate import JUDGES
from .prompts import PROTOCOLS
from .types import Judge


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_judge_flags(parser: argparse.ArgumentParser) -> None:
    """Add --judge and its options (and the grader's) to ``parser``."""
    g = parser.add_argument_group("judge")
    g.add_argument("--judge", default="toy", choices=JUDGES, help="who recognises the images (default: toy)")
    g.add_argument("--judge-model", default=None,
                   help="openai: model name (gpt-5, or what your server serves); hf/clip: folder or hub id; toy: judge folder (default: shipped)")
    g.add_argument("--judge-base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM), "
                   "http://localhost:11434/v1 (Ollama); default: OpenAI")
    g.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key (never a key itself)")
    g.add_argument("--judge-concurrency", type=_positive_int, default=8, help="requests in flight at once (default 8)")
    g.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per request (default 60)")
    g.add_argument("--judge-max-retries", type=int, default=4, help="retries on 429/5xx/timeouts, exponential backoff (default 4)")
    g.add_argument("--judge-max-tokens", type=int, default=None, help="max_completion_tokens (default: not sent; GPT-5 spends them on reasoning)")
    g.add_argument("--judge-temperature", type=float, default=None, help="temperature (default: not sent; GPT-5 rejects it)")
    g.add_argument("--judge-reasoning-effort", default=None, help="reasoning_effort for reasoning models (minimal, low, medium, high)")
    g.add_argument("--judge-device", default=None, help="hf/clip: cpu, cuda, ... (default: cuda if available)")
    g.add_argument("--judge-dtype", default=None, choices=["float32", "bfloat16", "float16"], help="hf: model dtype")
    g.add_argument("--clip-template", default="an image of {}", help="clip: text for each candidate ({} = concept)")
    g.add_argument("--grader", default=None, choices=["rubric", "matcher"],
                   help="rubric: the paper's LLM rubric grader (default for --judge openai); matcher: the offline "
                        "string matcher (default for --judge hf; not the paper's grader)")
    g.add_argument("--grader-model", default=None,
                   help="model of the rubric grader, e.g. gpt-5-mini as in the paper (default: the judge's own model)")
    g.add_argument("--grader-base-url", default=None, help="grader endpoint (default: --judge-base-url)")
    g.add_argument("--grader-api-key-env", default=None, help="grader key variable (default: --judge-api-key-env)")
    g.add_argument("--protocol", default=",".join(PROTOCOLS), help="comma list of stringent,lenient (default: both)")
    g.add_argument("--n-queries", type=_positive_int, default=10, help="queries per image and protocol (default 10; deterministic judges: 1)")


def protocols_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    protocols = tuple(p.strip() for p in args.protocol.split(",") if p.strip())
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise UserError(f"--protocol must be a comma list of {', '.join(PROTOCOLS)}, got {args.protocol!r}")
    return protocols


def judge_from_args(args: argparse.Namespace) -> Judge:
    """Build the judge the flags describe (the same function as ``ld.judge(run, judge=..., **options)``)."""
    from ..api import make_judge as build

    return build(args.judge, model=args.judge_model, base_url=args.judge_base_url, api_key_env=args.judge_api_key_env,
                 concurrency=args.judge_concurrency, timeout=args.judge_timeout, max_retries=args.judge_max_retries,
                 max_tokens=args.judge_max_tokens, temperature=args.judge_temperature,
                 reasoning_effort=args.judge_reasoning_effort, device=args.judge_device, dtype=args.judge_dtype,
                 clip_template=args.clip_template, grader=getattr(args, "grader", None), grader_model=args.grader_model,
                 grader_base_url=args.grader_base_url, grader_api_key_env=args.grader_api_key_env)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("judge-image", help="ask a judge whether one image shows a concept",
                              description="Judge one image for one concept and print the verdicts as JSON lines.")
    p.add_argument("image", help="PNG/JPEG file")
    p.add_argument("--concept", required=True, help="the concept the image should show")
    p.add_argument("--category", default=None, help="its category (used by the lenient prompt)")
    p.add_argument("--candidates", default="", help="clip: comma list of concepts to rank against")
    p.add_argument("--cache", default=None, help="SQLite verdict cache file (default: no cache)")
    add_judge_flags(p)
    p.set_defaults(func=_judge_image)


def _judge_image(args: argparse.Namespace) -> int:
    from ..api import check_image_file, judge_image

    check_image_file(args.image)  # before a judge is built or a query is paid for
    protocols = protocols_from_args(args)
    judge = judge_from_args(args)
    try:
        verdicts = judge_image(args.image, args.concept, category=args.category, judge=judge,
                               candidates=args.candidates.split(","), protocols=protocols, n_queries=args.n_queries,
                               cache=args.cache)
    finally:
        judge.close()
    for v in verdicts:
        print(json.dumps(v))
    return 0
