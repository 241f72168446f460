"""``layerdream annotate RUN``: serve a blind annotation page so that people judge the RUN's images too.

Only argparse at import time (``layerdream --help`` stays instant); the web framework is an optional
extra, ``layerdream[annotate]``, imported when the command runs, with one line if it is missing.
"""
from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from ..annotate.server import DEFAULT_HOST, DEFAULT_PORT, bind, check_extra, is_loopback, link
from ..errors import UserError

EPILOG = """examples:
  layerdream annotate runs/toy                          # http://127.0.0.1:8765/ on this machine
  layerdream annotate runs/toy --protocol lenient --choices
  layerdream annotate runs/toy --host 0.0.0.0           # the lab network: prints a link with a token
  layerdream report runs/toy                            # then: human rows, kappa per model judge
  layerdream lens --images runs/toy --human-sample 20   # lens readouts for people (LatentLens's protocol) ...
  layerdream annotate runs/toy --lens                   # ... ticked here; the report's lens section: kappa"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="serve a blind web page where people judge a RUN's images (human vs model)",
                       description=__doc__.splitlines()[0], epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="a folder made by `layerdream sweep` (with --lens: also a `layerdream lens --out` folder)")
    p.add_argument("--lens", action="store_true",
                   help="grade lens readouts instead (written by `layerdream lens --human-sample N`): the image with the "
                        "token's patch boxed, its k candidate words; tick those that describe the patch, or none")
    p.add_argument("--protocol", default="stringent", choices=["stringent", "lenient"],
                   help="stringent: 'What is in the image?'; lenient: 'What {category} is in the image if you had to "
                        "guess?' (default: stringent)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only); any other address "
                        "requires the token printed in the link")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    p.add_argument("--choices", action="store_true",
                   help="lenient only: offer the category's concepts as completions while typing")
    p.add_argument("--grader", default="matcher", choices=["matcher", "rubric"],
                   help="how answers are scored, as for model judges: matcher, the offline string matcher with the "
                        "concept file's synonyms; rubric, the paper's LLM rubric (needs --grader-model) (default: matcher)")
    p.add_argument("--grader-model", default=None, help="model of the rubric grader, e.g. gpt-5-mini as in the paper")
    p.add_argument("--grader-base-url", default=None,
                   help="OpenAI-compatible endpoint of the rubric grader (default: https://api.openai.com/v1)")
    p.add_argument("--grader-api-key-env", default=None,
                   help="environment variable holding the rubric grader's API key (default: OPENAI_API_KEY)")
    p.add_argument("--quiet", action="store_true", help="no line per answer")
    p.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_annotate)


def make_grader_from_args(args: argparse.Namespace, synonyms: dict[str, list[str]]) -> Any:
    """The matcher (default) or the rubric grader, built by the evaluation package as for model judges."""
    from ..evaluation.evaluate import make_grader

    if args.grader == "matcher":
        if args.grader_model or args.grader_base_url or args.grader_api_key_env:
            raise UserError("--grader matcher grades offline; drop --grader-model/--grader-base-url/--grader-api-key-env "
                            "(or use --grader rubric)")
        return make_grader(synonyms=synonyms)
    if not args.grader_model:
        raise UserError("--grader rubric needs --grader-model (an OpenAI-compatible model, e.g. gpt-5-mini)")
    return make_grader(grader_model=args.grader_model, grader_base_url=args.grader_base_url,
                       grader_api_key_env=args.grader_api_key_env)


def _lens_flags(args: argparse.Namespace) -> None:
    if args.protocol != "stringent" or args.choices or args.grader != "matcher" or args.grader_model:
        raise UserError("--lens asks one question (which candidate words describe the boxed patch) and needs no grader; "
                        "drop --protocol/--choices/--grader*")


def _serve(args: argparse.Namespace, annotation: Any, what: str) -> int:
    """Bind, print the link, run until Ctrl-C (both kinds of annotation)."""
    import uvicorn

    from ..annotate.app import create_app

    loopback = is_loopback(args.host)
    token = None if loopback else secrets.token_urlsafe(18)
    sock = bind(args.host, args.port)
    app = create_app(annotation, token=token, loopback=loopback)
    print(f"layerdream annotate: {what}")
    print(f"  open {link(args.host, args.port, token)}" + ("" if loopback else "   (send this link to the annotators)"))
    print("  answers are saved as they are given; Ctrl-C stops the server", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then re-raises Ctrl-C: the normal way to stop a server
        pass
    finally:
        sock.close()
    print("layerdream annotate: stopped; run `layerdream report " + str(args.run) + "` for human vs model agreement",
          file=sys.stderr)
    return 0


def cmd_annotate(args: argparse.Namespace) -> int:
    check_extra()
    from ..annotate.session import Annotation, Progress

    def said(name: str, progress: Progress) -> None:
        if not args.quiet:
            print(f"layerdream annotate: {name}: {progress.answered} of {progress.total} answered "
                  f"({'lens' if args.lens else args.protocol})", file=sys.stderr, flush=True)

    if args.lens:
        from ..annotate.lens import LensAnnotation

        _lens_flags(args)
        lens = LensAnnotation(args.run, on_answer=said)
        total = lens.progress("").total
        return _serve(args, lens, f"{total} lens readouts of {lens.folder}, LatentLens's protocol (tick the candidates "
                                  "that describe the boxed patch)")
    from ..sweep.judging import run_concepts
    from ..sweep.store import Store

    store = Store.open_existing(args.run)
    try:
        concepts = run_concepts(store)
    finally:
        store.close()
    grader = make_grader_from_args(args, {c.name: list(c.synonyms) for c in concepts.concepts if c.synonyms})

    annotation = Annotation(args.run, protocol=args.protocol, grader=grader, choices=args.choices, on_answer=said)
    fixed = annotation.regrade_failed()
    if fixed:
        print(f"layerdream annotate: graded {fixed} earlier answer(s) whose grading had failed", file=sys.stderr)
    total = annotation.progress("").total
    return _serve(args, annotation, f"{total} images of {args.run}, {args.protocol} protocol, graded by {grader.id}")
