"""``layerdream judge-image IMAGE --concept C``: one image, one concept, the verdicts as JSON lines
(thin: ``layerdream.api.judge_image``; the judge flags are those of ``layerdream judge``, in flags.py)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from . import flags
from .flags import add_judge_flags, protocols_from_args


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
    judge = flags.judge_from_args(args)  # looked up now: tests replace it
    try:
        verdicts = judge_image(args.image, args.concept, category=args.category, judge=judge,
                               candidates=args.candidates.split(","), protocols=protocols, n_queries=args.n_queries,
                               cache=args.cache)
    finally:
        judge.close()
    for v in verdicts:
        print(json.dumps(v))
    return 0
