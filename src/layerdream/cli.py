"""The `layerdream` command line: thin by design.

Each subsystem registers its own subcommand (``register(subparsers)`` in its ``cli`` module) and
does the work through the Python API. This file only parses, dispatches, and turns a
:class:`~layerdream.errors.UserError` into one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .errors import UserError

# One line per subsystem; the order is the order of `layerdream --help`.
COMMAND_MODULES = [
    "layerdream.synthesis.cli",
    "layerdream.demo",
    "layerdream.evaluation.cli",
    "layerdream.sweep.cli",
    "layerdream.report.cli",
    "layerdream.annotate.cli",
    "layerdream.diagnostics.cli",
    "layerdream.toyworld.cli",
]


def int_list(text: str) -> list[int]:
    """Parse "1,5,10" (the same comma-list syntax for --layer and --seed in every command)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,5,10, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """--model/--device/--dtype mean the same thing in every command."""
    parser.add_argument(
        "--model",
        default="toy-aligned",
        help="hub id, local folder, or a shipped toy model (toy-aligned, toy-plain, toy-shuffled; toy-gemma, "
             "toy-gemma-aligned with the realmodel extra); default: toy-aligned",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                        help="model dtype (default: bfloat16 on a GPU, float32 on CPU)")


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """The one progress flag of every command that shows progress (``--no-progress`` still works)."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; every flag's default shown unless its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        quiet_default = action.default in (None, False, argparse.SUPPRESS) or action.option_strings == []
        if "default" in text.lower() or quiet_default or isinstance(action, argparse._StoreConstAction):
            return text
        default = ",".join(map(str, action.default)) if isinstance(action.default, list) else action.default
        return f"{text} (default: {str(default).replace('%', '%%')})"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        for key in ("description", "epilog"):  # docstrings make descriptions; their markup does not belong in --help
            if kwargs.get(key):
                kwargs[key] = kwargs[key].replace("``", "`").replace(":func:", "").replace(":class:", "")
        if kwargs.get("formatter_class") is argparse.RawDescriptionHelpFormatter:
            kwargs["formatter_class"] = _HelpFormatter
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line and exit 2, like every other user error
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="layerdream", description="At which layer of a VLM do a text concept and its images share a "
                     "representation? Synthesise images toward concept vectors, judge them, report. Default model: toy-aligned.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a missing dependency inside the module is a real error
                raise
            continue  # a subsystem that is not part of this installation
        module.register(sub)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("layerdream")
    except metadata.PackageNotFoundError:
        return "unknown"


def _notices_to_stderr() -> None:
    """Library notices (logger "layerdream", e.g. lr/tau that are not the paper's) as one line each."""
    import logging

    log = logging.getLogger("layerdream")
    if not any(getattr(h, "_layerdream", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("layerdream: note: %(message)s"))
        handler._layerdream = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _notices_to_stderr()
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"layerdream: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerdream: interrupted; finished results are kept, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
