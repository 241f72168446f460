"""One CLI, consistent: every subcommand and flag has help, defaults show, no docstring markup,
`--quiet` is the progress flag everywhere, `--seed` is always a list, `--judge` always a backend."""
from __future__ import annotations

import argparse

import pytest

from layerdream.cli import build_parser, int_list


def _commands(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield prefix + (name,), sub, helps.get(name)
                yield from _commands(sub, prefix + (name,))


COMMANDS = list(_commands(build_parser()))


@pytest.mark.parametrize("path,parser,summary", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_every_command_and_flag_is_explained(path, parser, summary):
    assert summary, f"`layerdream {' '.join(path)}` has no one-line help"
    text = parser.format_help()
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"`layerdream {' '.join(path)}` {action.option_strings or action.dest} has no help"
        if action.option_strings and action.default not in (None, False) and not isinstance(action, argparse._StoreConstAction):
            assert "default" in parser._get_formatter()._get_help_string(action).lower(), (path, action.option_strings)


@pytest.mark.parametrize("path,parser,summary", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_consistent_flags(path, parser, summary):
    options = {o: a for a in parser._actions for o in a.option_strings}
    assert "--no-progress" not in parser.format_help()  # one visible progress flag: --quiet
    if "--no-progress" in options:
        assert "--quiet" in options and options["--no-progress"].dest == options["--quiet"].dest
    if "--seed" in options:
        assert options["--seed"].type is int_list, path
    if "--judge" in options and options["--judge"].help != argparse.SUPPRESS:
        assert options["--judge"].choices, f"--judge on {path} must name a backend"


def test_commands_that_show_progress_take_quiet():
    names = {" ".join(p): parser for p, parser, _ in COMMANDS}
    for name in ("synthesize", "sweep", "judge", "demo", "annotate"):
        assert "--quiet" in names[name].format_help(), name


def test_preset_values_are_shown():
    sub = dict((" ".join(p), parser) for p, parser, _ in COMMANDS)["synthesize"]
    text = " ".join(sub.format_help().split())
    assert "600 steps" in text and "80 steps" in text
