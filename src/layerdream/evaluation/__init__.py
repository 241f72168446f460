"""Step 3 of the method: is the synthesised image recognisably the concept?

Judges (openai = GPT-5 or any compatible server, hf = local VLM, clip = zero-shot CLIP/SigLIP,
toy = the toy world's classifier) answer the paper's two prompts; graders (LLM rubric or offline
matcher) score the answers; a SQLite cache makes re-judging free; :func:`summarize` turns verdicts
into rates with Wilson intervals. See docs/evaluation.md.
"""
from .._lazy import lazy
from .evaluate import evaluate  # eager: the name is also a submodule's, which would shadow a lazy binding

__getattr__, __dir__ = lazy(__name__, {
    "JUDGES": ".evaluate",
    "make_grader": ".evaluate",
    "make_judge": ".evaluate",
    "MatchGrader": ".matcher",
    "matches": ".matcher",
    "normalize": ".matcher",
    "LENIENT_PROMPT": ".prompts",
    "PROMPT_VERSION": ".prompts",
    "PROTOCOLS": ".prompts",
    "RUBRIC": ".prompts",
    "RUBRIC_VERSION": ".prompts",
    "STRINGENT_PROMPT": ".prompts",
    "category_noun": ".prompts",
    "recognition_prompt": ".prompts",
    "bootstrap_mean_interval": ".stats",
    "pivot": ".stats",
    "summarize": ".stats",
    "verdict_rows": ".stats",
    "wilson_interval": ".stats",
    "Answer": ".types",
    "Grade": ".types",
    "Grader": ".types",
    "Judge": ".types",
    "JudgeItem": ".types",
    "Query": ".types",
    "Verdict": ".types",
    "file_sha256": ".types",
})

__all__ = [
    "JUDGES", "evaluate", "make_grader", "make_judge", "MatchGrader", "matches", "normalize",
    "LENIENT_PROMPT", "PROMPT_VERSION", "PROTOCOLS", "RUBRIC", "RUBRIC_VERSION", "STRINGENT_PROMPT",
    "category_noun", "recognition_prompt", "bootstrap_mean_interval", "pivot", "summarize", "verdict_rows",
    "wilson_interval", "Answer", "Grade", "Grader", "Judge", "JudgeItem", "Query", "Verdict", "file_sha256",
]
