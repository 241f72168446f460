"""Step 3 of the method: is the synthesised image recognisably the concept?

Judges (openai = GPT-5 or any compatible server, hf = local VLM, clip = zero-shot CLIP/SigLIP,
toy = the toy world's classifier) answer the paper's two prompts; graders (LLM rubric or offline
matcher) score the answers; a SQLite cache makes re-judging free; :func:`summarize` turns verdicts
into rates with Wilson intervals. See docs/evaluation.md.
"""
from .evaluate import JUDGES, evaluate, make_grader, make_judge
from .matcher import MatchGrader, matches, normalize
from .prompts import (
    LENIENT_PROMPT,
    PROMPT_VERSION,
    PROTOCOLS,
    RUBRIC,
    RUBRIC_VERSION,
    STRINGENT_PROMPT,
    category_noun,
    recognition_prompt,
)
from .stats import bootstrap_mean_interval, pivot, summarize, verdict_rows, wilson_interval
from .types import Answer, Grade, Grader, Judge, JudgeItem, Query, Verdict, file_sha256

__all__ = [
    "JUDGES", "evaluate", "make_grader", "make_judge", "MatchGrader", "matches", "normalize",
    "LENIENT_PROMPT", "PROMPT_VERSION", "PROTOCOLS", "RUBRIC", "RUBRIC_VERSION", "STRINGENT_PROMPT",
    "category_noun", "recognition_prompt", "bootstrap_mean_interval", "pivot", "summarize", "verdict_rows",
    "wilson_interval", "Answer", "Grade", "Grader", "Judge", "JudgeItem", "Query", "Verdict", "file_sha256",
]
