"""Which grader scored a verdict, in words a reader of a table understands.

The paper grades free-text answers with an LLM and a rubric (GPT-5-mini, method.md c.3). Our offline
string matcher disagrees with it both ways ("Dinosaur" is T-rex to the matcher, "Chessboard" is not
chess), so a rate graded by the matcher is not the paper's number and must never look like one:
every table, export and terminal line that shows rates says which grader made them, with this label.
"""
from __future__ import annotations

MATCHER_ID = "matcher"
SELF_ID = "self"


def grader_label(grader_id: str | None) -> str:
    """A one-phrase description of a verdict's grader id (``matcher``, ``self``, ``llm:<model>@<url>``)."""
    if not grader_id:
        return "unknown grader"
    if grader_id == MATCHER_ID:
        return "offline string matcher (not the paper's rubric grader)"
    if grader_id == SELF_ID:
        return "self-scored by the judge (no free-text answer to grade)"
    if grader_id.startswith("llm:"):
        return f"the paper's rubric, graded by {grader_id[4:]}"
    return grader_id


def is_matcher(grader_id: str | None) -> bool:
    return grader_id == MATCHER_ID
