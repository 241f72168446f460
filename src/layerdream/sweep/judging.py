"""Judge (or re-judge) the images of a RUN and keep the verdicts in the RUN database.

Works on a finished sweep or one still running: it judges whatever rows exist now, and a later call
judges only what is not yet judged. A (job, protocol) pair counts as judged by this judge only if its
verdicts are for the current prompt version and the image's current sha256 *and none of them is an
error*: failed queries are asked again on the next call (the cache holds only successes, so the good
answers of a half-failed pair cost nothing the second time).

Nothing is lost on the way: every image is checked (exists, sha256 as recorded) before the first
query; verdicts are replaced pair by pair in the transaction that stores their successors, never
deleted first; and a pair whose new answers failed keeps its earlier error-free verdicts.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Callable, Sequence

from ..errors import UserError
from .conceptsets import ConceptSet
from .store import Store, image_problem


@dataclass
class JudgeOutcome:
    """What one ``judge_run`` did: how many verdicts it stored and how many of its queries failed."""

    images: int = 0  # images sent to the judge (cache hits included)
    queries: int = 0  # verdicts produced
    errors: int = 0  # of those, failed (judge or grader error)
    stored: int = 0  # verdict rows written
    kept: int = 0  # (job, protocol) pairs whose earlier verdicts were kept because the new ones failed
    error_examples: list[str] = field(default_factory=list)

    @property
    def failed_fraction(self) -> float:
        return self.errors / self.queries if self.queries else 0.0


def run_concepts(store: Store) -> ConceptSet:
    """The concept set a RUN was made with (stored in the RUN, so no concepts file is needed later)."""
    meta = store.get_meta("concepts") or {"name": "?", "concepts": []}
    try:
        return ConceptSet.from_json(str(meta["name"]), meta["concepts"])
    except (KeyError, TypeError, AttributeError):
        raise UserError(f"RUN {str(store.run_dir)!r}: the concept list stored in its database is damaged; "
                        "restore sweep.sqlite from a copy") from None


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


def check_images(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Every image about to be judged exists and is the one the sweep recorded; else one UserError, before any query."""
    bad: list[tuple[str, str]] = []
    for r in rows:
        problem = image_problem(store.run_dir, r)
        if problem is not None:
            bad.append((str(store.run_dir / r["image_path"]), problem))
    if bad:
        raise UserError(
            f"{len(bad)} image(s) of RUN {str(store.run_dir)!r} cannot be judged, e.g. {bad[0][0]!r} ({bad[0][1]}); "
            "re-run the same `layerdream sweep` command to remake them, then judge again (no verdict was changed)")


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
) -> JudgeOutcome:
    """Judge every recorded image not yet (successfully) judged by ``judge``; ``rejudge``: all of them again."""
    from ..evaluation.types import JudgeItem

    from ..evaluation.evaluate import grade_against_labels

    if evaluate is None:
        from ..evaluation.evaluate import evaluate  # the function; the package attribute can be the submodule
    concepts = run_concepts(store)
    members = {cat: [c.name for c in concepts.in_category(cat)] for cat in concepts.categories}
    add_synonyms(judge, concepts)
    names = [c.name for c in concepts.concepts]
    categories = {c.name: c.category for c in concepts.concepts}
    judge_id = getattr(judge, "id", "judge")
    version = getattr(judge, "prompt_version", "")
    results = store.results()
    sha = {r["key"]: r["image_sha256"] for r in results}
    existing: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for v in store.verdicts(judge_id):
        existing[(v["key"], v["protocol"])].append(v)
    labelled: dict[tuple[str, str], set[str]] = defaultdict(set)  # control pairs: labels scored without error
    for s in store.label_scores(judge_id):
        if s["error"] is None and s["prompt_version"] == version and s["image_sha256"] == sha.get(s["key"]):
            labelled[(s["key"], s["protocol"])].add(s["label"])
    from .plan import is_control

    kind = {r["key"]: r["kind"] for r in results}
    labels_of = {r["key"]: members.get(r["category"], [r["concept"]]) for r in results if is_control(r["kind"])}

    def current(pair: tuple[str, str]) -> bool:  # verdicts for this question and this very image
        vs = existing.get(pair, [])
        return bool(vs) and all(v["prompt_version"] == version and v["image_sha256"] == sha[pair[0]] for v in vs)

    def done(pair: tuple[str, str]) -> bool:  # a control is done once graded against every label of its category
        return (current(pair) and all(v["error"] is None for v in existing[pair])
                and (not is_control(kind.get(pair[0], "")) or set(labels_of.get(pair[0], ())) <= labelled.get(pair, set())))

    todo: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)  # protocols to ask -> rows
    for r in results:
        ask = tuple(p for p in protocols if rejudge or not done((r["key"], p)))
        if ask:
            todo[ask].append(r)
    check_images(store, [r for rows in todo.values() for r in rows])
    outcome = JudgeOutcome()
    cache = str(store.run_dir / "judge_cache.sqlite")
    for ask, rows in todo.items():
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            items = [
                JudgeItem(image_path=str(store.run_dir / r["image_path"]), image_sha256=r["image_sha256"],
                          concept=r["concept"], category=r["category"], candidates=names, key=r["key"],
                          candidate_categories=categories)
                for r in part
            ]
            answered = evaluate(judge, items, protocols=ask, n_queries=n_queries, cache_path=cache, progress=progress)
            verdicts = [_verdict_row(v, judge_id) for v in answered]
            label_rows = grade_against_labels(judge, [_as_verdict(v) for v in answered],
                                              {k: labels_of[k] for k in (r["key"] for r in part) if k in labels_of},
                                              cache_path=cache)
            label_errors: dict[tuple[str, str], list[str]] = defaultdict(list)
            for s in label_rows:
                if s["error"] is not None:
                    label_errors[(s["key"], s["protocol"])].append(s["error"])
            by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            for v in verdicts:
                by_pair[(v["key"], v["protocol"])].append(v)
            replace, rows_out = [], []
            for pair, new in by_pair.items():
                failed = [v for v in new if v["error"] is not None]
                for error in label_errors.get(pair, []):  # a grading failure against another label counts too
                    if len(outcome.error_examples) < 3 and error not in outcome.error_examples:
                        outcome.error_examples.append(error)
                outcome.queries += len(new)
                outcome.errors += len(failed)
                for v in failed:
                    if len(outcome.error_examples) < 3 and v["error"] not in outcome.error_examples:
                        outcome.error_examples.append(v["error"])
                if failed and done(pair):  # keep the good verdicts we had rather than errors
                    outcome.kept += 1
                    continue
                replace.append(pair)
                rows_out += new
            outcome.images += len(part)
            chosen = set(replace)
            outcome.stored += store.replace_verdicts(judge_id, replace, rows_out,
                                                     [s for s in label_rows if (s["key"], s["protocol"]) in chosen])
    return outcome


def _as_verdict(v: Any) -> Any:
    """A Verdict, or a dict with a Verdict's fields (test doubles), as an object with attributes."""
    if isinstance(v, dict):
        from types import SimpleNamespace

        d = {"prompt": "", "image_sha256": "", "judge": "", "prompt_version": "", "grader": None, **v}
        return SimpleNamespace(**d)
    return v


def _verdict_row(v: Any, judge_id: str) -> dict[str, Any]:
    d = asdict(v) if is_dataclass(v) else dict(v)
    return {
        "key": d["key"], "protocol": d["protocol"], "query_index": int(d["query_index"]),
        "judge": d.get("judge") or judge_id, "prompt_version": d.get("prompt_version") or "",
        "concept": d["concept"], "answer": d.get("answer"), "score": d.get("score"),
        "error": d.get("error"), "grader": d.get("grader"), "image_sha256": d.get("image_sha256", ""),
    }
