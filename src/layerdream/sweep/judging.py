"""Judge (or re-judge) the images of a RUN and keep the verdicts in the RUN database.

Works on a finished sweep or one still running: it judges whatever rows exist now, and a later call
judges only what is new (a (job, protocol) pair already judged by this judge and prompt version is
skipped unless ``rejudge``). Items go to the judge in chunks and each chunk's verdicts are committed
in one transaction, so an interrupted judging run keeps what it paid for.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, Callable, Sequence

from .conceptsets import ConceptSet
from .store import Store


def run_concepts(store: Store) -> ConceptSet:
    """The concept set a RUN was made with (stored in the RUN, so no concepts file is needed later)."""
    meta = store.get_meta("concepts") or {"name": "?", "concepts": []}
    return ConceptSet.from_json(meta["name"], meta["concepts"])


def add_synonyms(judge: Any, concepts: ConceptSet) -> None:
    """Give an offline matcher grader the concept file's synonyms (it accepts "tyrannosaurus" for "T-rex")."""
    from ..evaluation.matcher import normalize

    grader = getattr(judge, "grader", None)
    table = getattr(grader, "synonyms", None)
    if not isinstance(table, dict):
        return
    for c in concepts.concepts:
        if c.synonyms:
            key = " ".join(normalize(c.name))
            table[key] = list(dict.fromkeys([*table.get(key, []), *c.synonyms]))


def judge_run(
    store: Store,
    judge: Any,
    *,
    protocols: Sequence[str] = ("stringent", "lenient"),
    n_queries: int = 10,
    rejudge: bool = False,
    progress: bool = True,
    chunk: int = 64,
    evaluate: Callable[..., list[Any]] | None = None,
) -> int:
    """Judge every recorded image not yet judged by ``judge``; returns the number of verdicts stored."""
    from ..evaluation import JudgeItem

    if evaluate is None:
        from ..evaluation import evaluate
    concepts = run_concepts(store)
    add_synonyms(judge, concepts)
    names = [c.name for c in concepts.concepts]
    categories = {c.name: c.category for c in concepts.concepts}
    judge_id = getattr(judge, "id", "judge")
    if rejudge:
        store.delete_verdicts(judge_id)
    version = getattr(judge, "prompt_version", "")
    judged = {(v["key"], v["protocol"]) for v in store.verdicts(judge_id) if v["prompt_version"] == version}
    rows = [r for r in store.results() if any((r["key"], p) not in judged for p in protocols)]
    stored = 0
    for start in range(0, len(rows), chunk):
        items = [
            JudgeItem(image_path=str(store.run_dir / r["image_path"]), image_sha256=r["image_sha256"],
                      concept=r["concept"], category=r["category"], candidates=names, key=r["key"],
                      candidate_categories=categories)
            for r in rows[start:start + chunk]
        ]
        verdicts = evaluate(judge, items, protocols=tuple(protocols), n_queries=n_queries,
                            cache_path=str(store.run_dir / "judge_cache.sqlite"), progress=progress)
        stored += store.add_verdicts((_verdict_row(v, judge_id) for v in verdicts), replace=True)
    return stored


def _verdict_row(v: Any, judge_id: str) -> dict[str, Any]:
    d = asdict(v) if is_dataclass(v) else dict(v)
    return {
        "key": d["key"], "protocol": d["protocol"], "query_index": int(d["query_index"]),
        "judge": d.get("judge") or judge_id, "prompt_version": d.get("prompt_version") or "",
        "concept": d["concept"], "answer": d.get("answer"), "score": d.get("score"),
        "error": d.get("error"), "grader": d.get("grader"), "image_sha256": d.get("image_sha256", ""),
    }
