"""One progress bar for every command: tqdm on a terminal, periodic plain lines in a log.

A tqdm bar written to a file or a pipe (a cluster job's log, `2> log.txt`, CI) becomes one endless
line of carriage returns. When stderr is not a terminal the same bar prints a complete line at most
every ``LOG_INTERVAL`` seconds (and at the end), which reads well in any log.
"""
from __future__ import annotations

import sys
from typing import Any

LOG_INTERVAL = 30.0


class _Lines:
    """A file for tqdm that turns each refresh into one line (tqdm starts refreshes with '\\r')."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    set_postfix_str = set_description = set_postfix

    def write(self, text: str) -> None:
        print(text, file=sys.stderr)

    def close(self) -> None:
        pass


def bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True, initial: int = 0, stream=None) -> Any:
    """A tqdm bar (or a no-op when ``enabled`` is False) that degrades to lines when not on a terminal."""
    if not enabled:
        return _NoBar()
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:  # notebook bars in Jupyter, plain ones elsewhere
        from tqdm.auto import tqdm
    else:  # tqdm.auto would warn "IProgress not found" in every kernel without ipywidgets
        from tqdm.std import tqdm

    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.1, file=stream)
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=_Lines(stream), mininterval=LOG_INTERVAL,
                maxinterval=LOG_INTERVAL * 4, ncols=100, ascii=True, dynamic_ncols=False)


class _StderrNow:
    """Writes to whatever ``sys.stderr`` is *now* (a handler that kept the stream of its first call would
    write into a closed test capture, or past a later redirection)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def notices_to_stderr():
    """For the length of one command: library notices (logger "layerdream", e.g. lr/tau that are not the
    paper's) as one ``layerdream: note:`` line each on stderr.

    Scoped, not global: the handler and ``propagate=False`` (no second copy through a root handler) are
    undone when the command returns, so a command run inside a notebook, a test or another program leaves
    that program's logging as it found it (a permanent ``propagate=False`` hid every later notice from
    pytest's ``caplog``)."""
    import contextlib
    import logging

    @contextlib.contextmanager
    def scope():
        log = logging.getLogger("layerdream")
        if any(getattr(h, "_layerdream", False) for h in log.handlers):  # nested: the outer command's handler prints
            yield
            return
        handler = logging.StreamHandler(_StderrNow())
        handler.setFormatter(logging.Formatter("layerdream: note: %(message)s"))
        handler._layerdream = True  # type: ignore[attr-defined]
        propagate = log.propagate
        log.addHandler(handler)
        log.propagate = False
        try:
            yield
        finally:
            log.removeHandler(handler)
            log.propagate = propagate

    return scope()
