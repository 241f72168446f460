"""``make_judge`` and ``evaluate``: from (image, concept) items to graded verdicts, through the cache.

The flow is ask -> grade -> record. Answers and grades are looked up in the cache first; only misses
cost queries. Failures never raise: they become verdicts with ``error`` set and ``score=None`` (the
statistics count them separately, never as 0). Only a judge that is down entirely raises (UserError).
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

from ..errors import UserError
from .cache import VerdictCache
from .grading import default_grader_model
from .prompts import PROTOCOLS
from .types import Answer, Grade, Grader, Judge, JudgeItem, Query, Verdict

log = logging.getLogger(__name__)
JUDGES = ("openai", "hf", "clip", "toy")
_CLIENT_KEYS = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "backoff",
                "max_completion_tokens", "temperature", "reasoning_effort", "extra_body")


def make_grader(grader_model: str | None = None, synonyms: dict[str, Iterable[str]] | None = None, **options: Any) -> Grader:
    """The LLM rubric grader if ``grader_model`` is given, else the offline matcher (which is not the
    paper's grader; ``make_judge`` picks the rubric for LLM judges by default).

    ``options``: ``grader_<client option>`` (e.g. grader_base_url) override the grader's client; plain
    client options (base_url, api_key_env, ...) are inherited from the judge, so a single vLLM server
    can both answer and grade.
    """
    from .matcher import MatchGrader

    unknown = [k for k in options if k not in _CLIENT_KEYS and not (k.startswith("grader_") and k[7:] in _CLIENT_KEYS)]
    if unknown:
        raise TypeError(f"unknown grader option(s) {unknown}; grader_<x> for x in {_CLIENT_KEYS}, or grader_model, synonyms")
    if not grader_model:
        return MatchGrader(synonyms)
    from .openai_judge import LLMGrader

    client: dict[str, Any] = {k: options[k] for k in _CLIENT_KEYS if options.get(k) is not None and k not in ("temperature", "max_completion_tokens", "reasoning_effort")}
    for k in _CLIENT_KEYS:
        if options.get(f"grader_{k}") is not None:
            client[k] = options[f"grader_{k}"]
    return LLMGrader(model=grader_model, **client)


GRADERS = ("rubric", "matcher")


def make_judge(name: str, **options: Any) -> Judge:
    """Build a judge by name: "openai" | "hf" | "clip" | "toy" (see docs/evaluation.md for options).

    Grading follows the paper unless told otherwise: an ``openai`` judge's answers are graded with the
    paper's rubric by an LLM: ``grader_model`` if given, else GPT-5-mini (the paper's grader) when the
    grader's endpoint is OpenAI's own, else the judge's own model on the judge's own server
    (``grading.default_grader_model``; the rule that chose it is ``grader.chosen_by``). ``grader="matcher"`` picks the offline string matcher instead; it is also the default of
    the offline ``hf`` judge (``grader="rubric"`` with a ``grader_model`` to use the rubric there).
    Options that do not apply to the chosen judge raise TypeError, so a typo is not silently ignored.
    """
    grading = {k: options.pop(k) for k in list(options) if k.startswith("grader_") or k in ("synonyms", "grader")}
    kind = grading.pop("grader", None)
    if kind is not None and kind not in GRADERS:
        raise UserError(f"unknown grader {kind!r}; choose one of {', '.join(GRADERS)}")
    if kind == "matcher" and grading.get("grader_model"):
        raise UserError("--grader matcher grades offline; drop --grader-model (or use --grader rubric)")
    if name == "openai":
        from .openai_judge import OpenAIJudge

        if not options.get("model"):
            raise UserError("the judge needs a model name; pass --judge-model (e.g. gpt-5, or the name your server serves)")
        client_opts = {k: options[k] for k in _CLIENT_KEYS if k in options}
        if kind == "matcher":
            grader = make_grader(synonyms=grading.get("synonyms"))
        else:  # the paper's rubric: gpt-5-mini on OpenAI's endpoint, else the judge's model, unless one is named
            chosen_by = None
            if not grading.get("grader_model"):
                endpoint = grading.get("grader_base_url") or client_opts.get("base_url")
                grading["grader_model"], chosen_by = default_grader_model(options["model"], endpoint)
            grader = make_grader(**grading, **client_opts)
            grader.chosen_by = chosen_by
        return OpenAIJudge(grader=grader, **options)
    if name == "hf":
        from .hf_judge import HFJudge

        if kind == "rubric" and not grading.get("grader_model"):
            raise UserError("--grader rubric with --judge hf needs --grader-model (an OpenAI-compatible model, e.g. gpt-5-mini)")
        if kind == "matcher":
            grading.pop("grader_model", None)
        return HFJudge(grader=make_grader(**grading), **options)
    if name == "clip":
        from .clip_judge import ClipJudge

        _no_grader(name, grading, kind)
        return ClipJudge(**options)
    if name == "toy":
        from .toy_judge import ToyJudge

        _no_grader(name, grading, kind)
        return ToyJudge(**options)
    raise UserError(f"unknown judge {name!r}; choose one of {', '.join(JUDGES)}")


def _no_grader(name: str, grading: dict[str, Any], kind: str | None = None) -> None:
    if grading.get("grader_model") or kind is not None:
        raise UserError(f"the {name} judge scores itself (no free-text answer); drop --grader-model and --grader")


def _answer_key(judge: Judge, q: Query) -> tuple[str, str, str, str, str, int, str]:
    return (q.item.image_sha256, q.item.concept, judge.id, judge.prompt_version, q.protocol, q.query_index, q.prompt)


def evaluate(
    judge: Judge,
    items: Sequence[JudgeItem],
    protocols: Sequence[str] = PROTOCOLS,
    n_queries: int = 10,
    cache_path: str | None = None,
    progress: bool = True,
) -> list[Verdict]:
    """Judge every item under every protocol, ``n_queries`` times (once for deterministic judges).

    Returns one Verdict per (item, protocol, query index), in that order.
    """
    for p in protocols:
        if p not in PROTOCOLS:
            raise UserError(f"unknown protocol {p!r}; choose from {', '.join(PROTOCOLS)}")
    if n_queries < 1:
        raise UserError("--n-queries must be at least 1")
    repeats = 1 if judge.deterministic else n_queries
    queries = [Query(it, p, i, judge.prompt(it, p)) for it in items for p in protocols for i in range(repeats)]
    cache = VerdictCache(cache_path) if cache_path else None
    try:
        answers, cached = _answers(judge, queries, cache, progress)
        grades = _grades(judge, queries, answers, cache, progress)
    finally:
        if cache is not None:
            cache.close()
    verdicts = []
    for q, a, g, hit in zip(queries, answers, grades, cached):
        error = a.error or (g.error if g is not None else None)
        score = a.score if g is None else g.score
        verdicts.append(Verdict(
            key=q.item.key, concept=q.item.concept, protocol=q.protocol, query_index=q.query_index, answer=a.text,
            score=None if a.error else score, error=error, judge=judge.id, prompt_version=judge.prompt_version,
            grader=judge.grader_id, category=q.item.category, image_sha256=q.item.image_sha256, prompt=q.prompt,
            rank=a.rank, retries=a.retries, cached=hit,
        ))
    n_err = sum(v.error is not None for v in verdicts)
    log.info("judged %d queries (%d from cache, %d errors, %d retries)", len(verdicts), sum(cached), n_err,
             sum(v.retries for v in verdicts))
    return verdicts


def _answers(judge: Judge, queries: list[Query], cache: VerdictCache | None, progress: bool) -> tuple[list[Answer], list[bool]]:
    keys = [_answer_key(judge, q) for q in queries]
    hits = cache.get_answers(keys) if cache is not None else {}
    todo = [i for i, k in enumerate(keys) if k not in hits]
    fresh = judge.answer([queries[i] for i in todo], progress) if todo else []
    if len(fresh) != len(todo):
        raise RuntimeError(f"judge {judge.id} returned {len(fresh)} answers for {len(todo)} queries")
    by_index = dict(zip(todo, fresh))
    if cache is not None:
        cache.put_answers((keys[i], a) for i, a in by_index.items())
    answers = [by_index[i] if i in by_index else hits[k] for i, k in enumerate(keys)]
    return answers, [i not in by_index for i in range(len(keys))]


def _grades(judge: Judge, queries: list[Query], answers: list[Answer], cache: VerdictCache | None, progress: bool) -> list[Grade | None]:
    grader = judge.grader
    if grader is None:
        return [None] * len(queries)
    keys: list[tuple[str, str, str, str, str] | None] = [
        None if a.error is not None or a.score is not None else (grader.id, grader.version, q.prompt, a.text or "", q.item.concept)
        for q, a in zip(queries, answers)
    ]
    return _cached_grades(grader, keys, cache, progress)


def _cached_grades(grader: Grader, keys: list[tuple[str, str, str, str, str] | None], cache: VerdictCache | None,
                   progress: bool) -> list[Grade | None]:
    """Grades for (grader id, version, prompt, answer, concept) keys: each distinct key graded once, through the cache."""
    unique = list(dict.fromkeys(k for k in keys if k is not None))
    known = cache.get_grades(unique) if cache is not None else {}
    todo = [k for k in unique if k not in known]
    fresh = dict(zip(todo, grader.grade([(k[2], k[3], k[4]) for k in todo], progress))) if todo else {}
    if cache is not None:
        cache.put_grades(fresh.items())
    known.update(fresh)
    return [known[k] if k is not None else None for k in keys]


def grade_against_labels(judge: Judge, verdicts: Sequence[Verdict], labels: dict[str, Sequence[str]],
                         cache_path: str | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """Score each answer of ``verdicts`` against every label in ``labels[verdict.key]``: no new judge query.

    A control image is judged against one label of its category, but what the judge says about it
    does not depend on that label (the stringent question names nothing, the lenient one names only the
    category), so grading the same answers against every label of the category gives the judge's base
    rate for that category exactly, instead of one noisy draw (issue 19 item 9). A grader scores the
    answer against each label (cached, like every grade); a judge that scores itself answers with the
    label it picked (toy, clip), which scores 1 for that label only. One dict per (verdict, label):
    key, protocol, query_index, judge, prompt_version, label, score, error, grader, image_sha256.
    """
    grader = judge.grader
    tasks: list[tuple[Verdict, str]] = [(v, label) for v in verdicts if v.key in labels for label in labels[v.key]]
    keys: list[tuple[str, str, str, str, str] | None] = []
    for v, label in tasks:
        needs_grader = grader is not None and v.error is None and label != v.concept
        keys.append((grader.id, grader.version, v.prompt or "", v.answer or "", label) if needs_grader else None)
    cache = VerdictCache(cache_path) if cache_path and grader is not None else None
    try:
        grades = _cached_grades(grader, keys, cache, progress) if grader is not None else [None] * len(tasks)
    finally:
        if cache is not None:
            cache.close()
    out = []
    for (v, label), grade in zip(tasks, grades):
        if v.error is not None:
            score, error = None, v.error
        elif label == v.concept:
            score, error = v.score, None
        elif grade is not None:
            score, error = grade.score, grade.error
        else:  # self-scored: the answer is the label the judge chose
            score, error = int((v.answer or "").strip() == label), None
        out.append({"key": v.key, "protocol": v.protocol, "query_index": v.query_index, "judge": v.judge,
                    "prompt_version": v.prompt_version, "label": label, "score": score, "error": error,
                    "grader": v.grader, "image_sha256": v.image_sha256})
    return out
