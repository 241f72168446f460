"""``ld.judge`` (a RUN's images), ``ld.judge_image`` (one image) and ``make_judge``: judges built exactly as
the CLI's ``--judge`` flags build them, verdicts stored by ``sweep.judging.judge_run``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import UserError
from .coerce import check_image_file, protocol_list
from .run import Run

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    from ..evaluation.types import Judge
    from ..sweep.judging import JudgeOutcome


def make_judge(judge: str = "toy", *, model: str | None = None, base_url: str | None = None,
               api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, timeout: float = 60.0, max_retries: int = 4,
               max_tokens: int | None = None, temperature: float | None = None, reasoning_effort: str | None = None,
               device: str | None = None, dtype: str | None = None, clip_template: str = "an image of {}",
               grader: str | None = None, grader_model: str | None = None, grader_base_url: str | None = None,
               grader_api_key_env: str | None = None) -> Judge:
    """Build a judge exactly as ``--judge ... --judge-model ...`` does (defaults included); see docs/evaluation.md."""
    from ..evaluation.evaluate import make_judge as build

    grading: dict[str, Any] = {}
    if grader_model or grader_base_url or grader_api_key_env:  # an endpoint alone picks the default model there
        grading = {k: v for k, v in (("grader_model", grader_model), ("grader_base_url", grader_base_url),
                                     ("grader_api_key_env", grader_api_key_env)) if v}
    if grader:
        grading["grader"] = grader
    if judge == "openai":
        return build("openai", model=model or "gpt-5", base_url=base_url, api_key_env=api_key_env, concurrency=concurrency,
                     timeout=timeout, max_retries=max_retries, max_completion_tokens=max_tokens, temperature=temperature,
                     reasoning_effort=reasoning_effort, **grading)
    if judge == "hf":
        if not model:
            raise UserError("--judge hf needs --judge-model (a local folder or hub id of an image-text-to-text model)")
        return build("hf", model=model, device=device, dtype=dtype, **grading)
    if judge == "clip":
        return build("clip", model=model or "openai/clip-vit-base-patch32", device=device, template=clip_template, **grading)
    return build(judge, model=model, **grading)


@dataclass
class JudgeSummary:
    """What one :func:`judge` call did: the judge's stored id, its grader, and the counts of ``judge_run``."""

    run: Run
    judge: str
    grader: str
    outcome: JudgeOutcome

    def summary(self) -> str:
        """The line ``layerdream judge`` prints: images, queries, verdicts stored, failures (with an example)."""
        return judge_summary(self.outcome, self.judge, self.grader, str(self.run.path))

    def rates(self) -> str:
        """Concept rates beside their controls, per protocol and layer (all categories pooled; 95 % CI over queries)."""
        return rates_summary(str(self.run.path), self.judge)

    def check(self) -> None:
        """UserError when more than half the queries failed (the verdicts that did not fail are stored)."""
        o = self.outcome
        if o.queries and o.errors * 2 > o.queries:
            raise UserError(
                f"judge {self.judge}: {o.errors} of {o.queries} queries failed ({o.error_examples[0]}); "
                f"fix the judge and re-run `layerdream judge {self.run.path}`: failed queries are asked again")

    def __repr__(self) -> str:
        return self.summary()


def judge_run_with(run: Run | str | os.PathLike[str], judge: Judge, *, protocols: str | Sequence[str] = ("stringent", "lenient"),
                   n_queries: int = 10, rejudge: bool = False, progress: bool = True) -> JudgeSummary:
    """Judge the RUN's images with a built judge (not closed here); no failure check (see :meth:`JudgeSummary.check`)."""
    from ..evaluation.grading import grader_label
    from ..sweep.judging import judge_run
    from ..sweep.store import Store

    run = run if isinstance(run, Run) else Run(run)
    protocols = protocol_list(protocols)
    if n_queries < 1:
        raise UserError("--n-queries must be at least 1")
    store = Store.open_existing(run.path)
    try:
        outcome = judge_run(store, judge, protocols=protocols, n_queries=n_queries, rejudge=rejudge, progress=progress)
    finally:
        store.close()
    grader = getattr(judge, "grader_description", None) or grader_label(getattr(judge, "grader_id", None))
    return JudgeSummary(run, getattr(judge, "id", "judge"), grader, outcome)


def judge(run: Run | str | os.PathLike[str], judge: str | Judge = "toy", *, protocols: str | Sequence[str] = ("stringent", "lenient"),
          n_queries: int = 10, rejudge: bool = False, progress: bool = True, **judge_options: Any) -> JudgeSummary:
    """Judge (or re-judge) a RUN's images; verdicts go into the RUN, and a later call judges only what is new.

    ``judge``: ``"toy"``, ``"openai"``, ``"hf"``, ``"clip"`` (options as :func:`make_judge`: ``model``,
    ``base_url``, ``grader_model``, ...) or a judge object. Works on a sweep still running. Failed
    queries are kept as errors and asked again next time; more than half failed raises UserError.
    """
    from ..sweep.store import Store

    built = isinstance(judge, str)
    if not built and judge_options:
        raise TypeError(f"judge options {sorted(judge_options)} apply only when the judge is given by name")
    run = run if isinstance(run, Run) else Run(run)
    Store.open_existing(run.path).close()  # a bad (or read-only) RUN is refused before a judge is built
    judge_obj = make_judge(judge, **judge_options) if built else judge
    try:
        result = judge_run_with(run, judge_obj, protocols=protocols, n_queries=n_queries, rejudge=rejudge, progress=progress)
    finally:
        if built:
            judge_obj.close()
    result.check()
    return result


def judge_image(image: Any, concept: str, *, category: str | None = None, judge: str | Judge = "toy",
                candidates: Sequence[str] = (), protocols: str | Sequence[str] = ("stringent", "lenient"),
                n_queries: int = 10, cache: str | os.PathLike[str] | None = None, **judge_options: Any) -> list[dict[str, Any]]:
    """Ask a judge whether one image (a file, or a :class:`SynthesisResult`) shows ``concept``; one dict per verdict."""
    import tempfile

    from ..evaluation.evaluate import evaluate
    from ..evaluation.types import JudgeItem

    protocols = protocol_list(protocols)
    with tempfile.TemporaryDirectory(prefix="layerdream-judge-") as tmp:
        if hasattr(image, "to_pil"):
            path = os.path.join(tmp, "image.png")
            image.to_pil().save(path)
        else:
            path = os.fspath(image)
            check_image_file(path)
        item = JudgeItem.from_path(path, concept, category=category, key=os.path.basename(path),
                                   candidates=[c.strip() for c in candidates if c.strip()])
        built = isinstance(judge, str)
        judge_obj = make_judge(judge, **judge_options) if built else judge
        try:
            verdicts = evaluate(judge_obj, [item], protocols, n_queries, os.fspath(cache) if cache else None, progress=False)
        finally:
            if built:
                judge_obj.close()
    return [v.to_dict() for v in verdicts]


def judge_summary(outcome: JudgeOutcome, judge_id: str, grader: str, run: str) -> str:
    """The terminal's account of one judge run: stored, failed (with an example), kept."""
    if not outcome.queries:
        return f"layerdream judge: nothing to judge in {run} (judge {judge_id}); every image has error-free verdicts"
    failed = ""
    if outcome.errors:
        failed = (f"; {outcome.errors} of {outcome.queries} queries FAILED, e.g. {outcome.error_examples[0][:160]!r} "
                  "(asked again on the next `layerdream judge`)")
    kept = f"; kept earlier verdicts of {outcome.kept} image/protocol pair(s) whose new queries failed" if outcome.kept else ""
    return (f"layerdream judge: {outcome.images} images, {outcome.queries} queries, {outcome.stored} verdicts stored "
            f"in {run} (judge {judge_id}; grader: {grader}){failed}{kept}")


def rates_summary(run: str, judge_id: str) -> str:
    """What the judge just measured, all categories pooled, per protocol and layer: the concept rate with
    its 95 % interval over concepts first (bootstrap, seeds nested: the interval for a claim about
    concepts), the paper's interval (Wilson over queries) beside it, each control's rate, and the
    one-sided test of concept images against the controls (p, effect, n). The report has every category."""
    from ..report.build import load
    from ..report.tables import ALL

    data = load(run, judge_id)
    rows = [r for r in data["table"] if r["category"] == ALL]
    tests = {(t["protocol"], t["layer"]): t for t in data.get("tests", []) if t["category"] == ALL and t["control"] == "controls"}
    lines = [f"recognition rate by layer, all categories: rate [95 % CI over concepts] (the paper's interval, over "
             f"queries); controls at their base rate over every label; details: layerdream report {run}"]
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        cells = {(r["kind"], r["layer"]): r for r in rows if r["protocol"] == protocol}
        for layer in sorted({layer for _, layer in cells}):
            c = cells.get(("concept", layer))
            parts = []
            if c and c["rate"] is not None:
                concepts = (f"[{c['ci_concepts_lo']:.2f}, {c['ci_concepts_hi']:.2f}] over {c['concepts']} concepts"
                            if c.get("ci_concepts_lo") is not None else "(one concept: no interval over concepts)")
                parts.append(f"concept {c['rate']:.2f} {concepts} (paper's: [{c['ci_queries_lo']:.2f}, "
                             f"{c['ci_queries_hi']:.2f}] over {c['n']} queries)")
            for kind in ("shuffled", "random"):
                r = cells.get((kind, layer))
                if r and r["rate"] is not None:
                    rate = r["base_rate"] if r.get("base_rate") is not None else r["rate"]
                    parts.append(f"{kind} {rate:.2f} n={r['images_scored']}")
            t = tests.get((protocol, layer))
            if t and t["p"] is not None:
                parts.append(f"concept vs controls {100 * t['effect']:+.0f} pts, one-sided p={t['p']:.3g} "
                             f"({t['n_concepts']} concepts, {t['n_controls']} controls)")
            if parts:
                lines.append(f"  {protocol:<9} layer {layer:>2}: " + "; ".join(parts))
    return "\n".join(lines)
