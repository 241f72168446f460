"""The flags several commands share, so that each means the same thing everywhere.

``--model/--device/--dtype``, ``--quiet``, ``--layer/--seed`` lists, the synthesis method and memory
flags (synthesize, sweep), the judge flags (judge, judge-image) and the Ray flags (sweep, judge), with
the functions that turn them into keyword arguments of the Python API. Only argparse and light modules
at import time: ``layerdream --help`` imports this file and must not load torch.
"""
from __future__ import annotations

import argparse

from ..errors import UserError
from ..evaluation.evaluate import JUDGES
from ..evaluation.prompts import PROTOCOLS
from ..evaluation.types import Judge


def int_list(text: str) -> list[int]:
    """Parse "1,5,10" (the same comma-list syntax for --layer and --seed in every command)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,5,10, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """--model/--device/--dtype mean the same thing in every command."""
    parser.add_argument(
        "--model",
        default="toy-aligned",
        help="hub id, local folder, or a shipped toy model (toy-aligned, toy-plain, toy-shuffled; toy-gemma, "
             "toy-gemma-aligned, toy-gemma-cotrained with the realmodel extra); default: toy-aligned",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                        help="model dtype (default: bfloat16 on a GPU, float32 on CPU)")


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """The one progress flag of every command that shows progress (``--no-progress`` still works)."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)


# -- synthesis (synthesize, sweep) ------------------------------------------------------------------------

def add_synthesis_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that synthesises (synthesize, sweep)."""
    parser.add_argument("--layer", type=int_list, default=[1], help="layer(s) l = hidden_states[l], e.g. 1,5,10 (default 1)")
    parser.add_argument("--seed", type=int_list, default=[0], help="seed(s), e.g. 0,1,2 (default 0)")
    parser.add_argument("--preset", default=None, metavar="{paper,fast}",
                        help="paper (Appendix E: 600 steps, K=8, 448 canvas, shifts 56, noise 0.1, lr/tau by layer, "
                             "scaled to the model's input size and depth) or fast (80 steps, K=4, lr 0.3, tau 0.1, native "
                             "canvas; tuned on the toy world). Default: paper for every real checkpoint, fast for the "
                             "shipped toy models (calibrated with it); each result records the rule that chose it")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the preset's)")
    g = parser.add_argument_group("method options (default: the preset's)")
    g.add_argument("--lr", type=float, default=None, help="SGD learning rate")
    g.add_argument("--tau", type=float, default=None, help="softmax temperature of the attention weights")
    g.add_argument("--copies", type=int, default=None, help="augmented copies per step (K)")
    g.add_argument("--weighting", choices=["paper", "prior", "noprior", "mean"], default=None,
                   help="paper: softmax((s+logG)/tau); prior: softmax(s/tau+logG); noprior: softmax(s/tau), the "
                        "spatial prior off; mean: mean pooling")
    g.add_argument("--per-position-centring", action="store_true", default=None,
                   help="centre each image token on the gray image's token at the same position")
    g.add_argument("--upsample", choices=["bilinear", "bicubic"], default=None,
                   help="how each resolution component is upsampled to the canvas (paper: bilinear; DAS: bicubic)")
    g.add_argument("--prompt-format", choices=["chat", "raw"], default=None, help="text prompt for concept vectors")
    g.add_argument("--baseline", default=None, help="file of baseline words (default: the model's own list, else the paper's 100)")
    g.add_argument("--negative", action="append", default=[], metavar="CONCEPT[=W]",
                   help="push away from CONCEPT with weight W (default 0.3), e.g. --negative text=0.3")


def add_resource_flags(parser: argparse.ArgumentParser) -> None:
    """How the work is cut to fit the machine (never what an image looks like): synthesize and sweep."""
    g = parser.add_argument_group("memory (changes speed, never the images)")
    g.add_argument("--batch", type=int, default=None, metavar="B",
                   help="at most B concepts per forward (default: as many as --max-memory allows)")
    g.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="memory budget for activations, e.g. 40GiB (default: 90%% of the free GPU memory, "
                        "or half the available RAM on CPU); the K copies are micro-batched when needed")
    g.add_argument("--checkpoint-vision", choices=["auto", "on", "off"], default="auto",
                   help="recompute the vision tower in backward instead of keeping its activations "
                        "(auto: only when one copy would not fit otherwise)")
    parser.add_argument("--deterministic", action="store_true",
                        help="GPU: deterministic algorithms and cuBLAS workspace, so a rerun gives the same PNG "
                             "(costs speed: docs/reproducibility.md); CPU runs are reproducible without it")


def resource_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`layerdream.synthesize` that :func:`add_resource_flags` sets."""
    from ..synthesis.memory import parse_bytes

    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be at least 1 concept per forward, got {args.batch}")
    ckpt = {"auto": "auto", "on": True, "off": False}[args.checkpoint_vision]
    if args.deterministic:  # cuBLAS reads its workspace setting at its first call: before the model loads
        from ..synthesis.determinism import prepare

        prepare()
    return dict(batch_size=args.batch, max_memory=parse_bytes(args.max_memory), checkpoint_vision=ckpt,
                deterministic=args.deterministic)


def synthesis_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`layerdream.synthesize` that the flags above set."""
    negatives = {}
    for item in args.negative:
        name, _, weight = item.partition("=")
        try:
            negatives[name.strip()] = float(weight) if weight else 0.3
        except ValueError:
            raise UserError(f"--negative {item!r}: the weight after '=' must be a number, e.g. text=0.3") from None
    return dict(
        preset=args.preset, steps=args.steps, lr=args.lr, tau=args.tau, copies=args.copies,
        weighting=args.weighting, per_position_centring=args.per_position_centring, upsample=args.upsample,
        prompt_format=args.prompt_format, baseline=args.baseline, negatives=negatives or None,
    )


# -- judging (judge, judge-image) -------------------------------------------------------------------------

def add_judge_flags(parser: argparse.ArgumentParser) -> None:
    """Add --judge and its options (and the grader's) to ``parser``: ``--judge openai --judge-model gpt-5``
    means the same in ``layerdream judge RUN`` and ``layerdream judge-image``."""
    g = parser.add_argument_group("judge")
    g.add_argument("--judge", default="toy", choices=JUDGES, help="who recognises the images (default: toy)")
    g.add_argument("--judge-model", default=None,
                   help="openai: model name (gpt-5, or what your server serves); hf/clip: folder or hub id; toy: judge folder (default: shipped)")
    g.add_argument("--judge-base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM), "
                   "http://localhost:11434/v1 (Ollama); default: OpenAI")
    g.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key (never a key itself)")
    g.add_argument("--judge-concurrency", type=positive_int, default=8, help="requests in flight at once (default 8)")
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
                   help="model of the rubric grader (default: gpt-5-mini, the paper's grader, when the grader's endpoint "
                        "is OpenAI's own; else the judge's own model; the summary says which)")
    g.add_argument("--grader-base-url", default=None, help="grader endpoint (default: --judge-base-url)")
    g.add_argument("--grader-api-key-env", default=None, help="grader key variable (default: --judge-api-key-env)")
    g.add_argument("--protocol", default=",".join(PROTOCOLS), help="comma list of stringent,lenient (default: both)")
    g.add_argument("--n-queries", type=positive_int, default=10, help="queries per image and protocol (default 10; deterministic judges: 1)")


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


# -- Ray (sweep, judge) -----------------------------------------------------------------------------------

def add_ray_flags(parser: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and the worker shape (docs/distributed.md)."""
    g = parser.add_argument_group("Ray (run the sweep on many GPUs or nodes; pip install 'layerdream[ray]')")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray: no ADDRESS starts a local Ray instance (all local GPUs, else CPU workers); "
                        "'auto' or ray://HOST:PORT joins a running cluster (default: not on Ray)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="Ray workers, each loads the model once (default: as many as the cluster's GPUs, or CPUs, hold)")
    g.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                   help="GPUs per Ray worker, fractional allowed: 0.5 puts 2 workers on a card (default: 1 when the "
                        "cluster has GPUs)")
    g.add_argument("--cpus-per-worker", type=float, default=None, metavar="C",
                   help="CPUs per Ray worker; on CPU-only clusters this sets how many workers fit (default: 1)")


def runner_from_args(args: argparse.Namespace):
    """A :class:`~layerdream.sweep.ray_runner.RayRunner` for ``--ray``, None without it; Ray flags without
    ``--ray`` are one line."""
    if args.ray is None:
        given = [flag for flag, value in (("--workers", args.workers), ("--gpus-per-worker", args.gpus_per_worker),
                                          ("--cpus-per-worker", args.cpus_per_worker)) if value is not None]
        if given:
            raise UserError(f"{given[0]} only applies to Ray sweeps; add --ray (or --ray ADDRESS)")
        return None
    from ..sweep.ray_runner import RayRunner, import_ray

    import_ray()
    address = None if args.ray == "local" else args.ray
    return RayRunner(address, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                     cpus_per_worker=args.cpus_per_worker, device=getattr(args, "device", None),
                     dtype=getattr(args, "dtype", None), batch=getattr(args, "batch", None),
                     progress=not getattr(args, "quiet", False))
