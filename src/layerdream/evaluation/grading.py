"""Which grader scored a verdict, in words a reader of a table understands.

The paper grades free-text answers with an LLM and a rubric (GPT-5-mini, method.md c.3). Our offline
string matcher disagrees with it both ways ("Dinosaur" is T-rex to the matcher, "Chessboard" is not
chess), so a rate graded by the matcher is not the paper's number and must never look like one:
every table, export and terminal line that shows rates says which grader made them, with this label.
"""
from __future__ import annotations

MATCHER_ID = "matcher"
SELF_ID = "self"
PAPER_GRADER_MODEL = "gpt-5-mini"  # the paper's rubric grader (method.md c.3)


def default_grader_model(judge_model: str, endpoint: str | None) -> tuple[str, str]:
    """(model, why) of the rubric grader when the user names none.

    On OpenAI's own endpoint the paper's grader, GPT-5-mini, exists and is what the paper used, so
    that is the default there. Any other endpoint (vLLM, Ollama, a proxy) serves its own models and
    most likely not one called ``gpt-5-mini``; there the judge's own model grades, as before.
    """
    from .chat import DEFAULT_BASE_URL, public_url

    if public_url(endpoint or DEFAULT_BASE_URL) == DEFAULT_BASE_URL:
        return PAPER_GRADER_MODEL, f"default on OpenAI's endpoint: {PAPER_GRADER_MODEL}, the paper's grader"
    return judge_model, "default off OpenAI's endpoint: the judge's own model (--grader-model gpt-5-mini for the paper's)"


def describe_grader(grader_id: str | None, chosen_by: str | None = None) -> str:
    """``grader_label`` plus, when a default rule picked the grader, which rule."""
    label = grader_label(grader_id)
    return f"{label} ({chosen_by})" if chosen_by else label


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
