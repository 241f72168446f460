"""Human judges: a blind annotation web page whose answers land in the RUN as judge ``human:<name>``.

``session.py`` holds the rules (blind shuffled order, resume, grading, the verdict row) in plain
Python; ``app.py`` is the Starlette app (optional extra ``layerdream[annotate]``); ``server.py`` the
socket, link and extra check of ``layerdream annotate`` (the command itself is ``layerdream.cli.annotate``).
The report compares humans with model judges (docs/human-eval.md).
"""
from .._lazy import lazy

__getattr__, __dir__ = lazy(__name__, {
    "Annotation": ".session",
    "is_human": ".session",
    "human_question": ".session",
    "HUMAN_PREFIX": ".session",
    "create_app": ".app",
})

__all__ = ["Annotation", "is_human", "human_question", "HUMAN_PREFIX", "create_app"]
