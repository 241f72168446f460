"""The `layerdream` command line: thin by design.

The outermost layer of the package (docs/architecture.md): one module per command in this package
(``register(subparsers)`` adds the command, its function calls the Python API), the flags several
commands share in ``flags.py``. This file only parses, dispatches, and turns a
:class:`~layerdream.errors.UserError` into one line on stderr and exit code 2. Nothing below the CLI
imports it.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ..errors import UserError
from .flags import add_model_flags, add_quiet_flag, int_list  # noqa: F401  (the shared flags, as before)

# One line per command module; the order is the order of `layerdream --help`.
COMMAND_MODULES = [
    "layerdream.cli.synthesize",
    "layerdream.cli.demo",
    "layerdream.cli.judge_image",
    "layerdream.cli.sweep",
    "layerdream.cli.judge",
    "layerdream.cli.report",
    "layerdream.cli.annotate",
    "layerdream.cli.align",
    "layerdream.cli.lens",
    "layerdream.cli.toyworld",
    "layerdream.cli.families",
]


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
            continue  # a command that is not part of this installation
        module.register(sub)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("layerdream")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..progress import notices_to_stderr

    created = _folders_to_be_created(args)
    try:
        with notices_to_stderr():
            return int(args.func(args) or 0)
    except UserError as err:
        _remove_if_still_empty(created)
        print(f"layerdream: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerdream: interrupted; finished results are kept, re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `layerdream families | head`: the reader left; quiet, as any Unix filter, no traceback
        _stdout_to_devnull()
        return 141  # 128 + SIGPIPE, what the shell reports for a filter its reader closed


def _folders_to_be_created(args: argparse.Namespace) -> list:
    """The ``--out`` folder and its parents that do not exist yet, deepest first: a command refused
    after making them (a layer out of range, an unknown model) must not leave an empty folder behind."""
    from pathlib import Path

    out = getattr(args, "out", None)
    if not isinstance(out, (str, Path)) or not str(out):
        return []
    missing = []
    path = Path(out).absolute()
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_if_still_empty(folders: list) -> None:
    for folder in folders:  # deepest first; a folder that now holds anything is kept, and so are its parents
        try:
            folder.rmdir()
        except OSError:
            return


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so that the interpreter's flush at exit does not raise the same error again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (a test's capture)
        pass
