"""The notebook-first API: the whole study (sweep, judge, report, align) as Python functions, results as DataFrames.

Why one module: the CLI commands are thin layers over these functions, so a notebook and a terminal get
the same defaults, the same checks and the same guarantees (a sweep resumes, never makes an image twice,
refuses a RUN made with other settings, plans its memory; a judge never loses a verdict), and the
DataFrames are built in one place. The heavy lifting stays where it was (``sweep.sweeper.run_sweep``,
``sweep.judging.judge_run``, ``report.build``, ``diagnostics.align``); this module only assembles.

Nothing heavy at import time: torch, pandas and matplotlib are imported inside the functions that need
them, so ``import layerdream`` stays instant. pandas is an optional extra (``layerdream[notebook]``); the
functions that return DataFrames say so in one line when it is missing.
"""
from __future__ import annotations

import base64
import contextlib
import html as _html
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from .errors import UserError

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    import pandas as pd

    from .evaluation.types import Judge
    from .models.vlm import VLM
    from .sweep.conceptsets import ConceptSet
    from .sweep.judging import JudgeOutcome
    from .sweep.runner import Runner
    from .sweep.sweeper import SweepOutcome, SweepSpec

RECOGNITION_BY = ("category", "concept", "layer", "seed")
CONTROL_KINDS = ("random", "shuffled")
INLINE_SET = "inline"  # name of a concept set given as a dict or list in Python
GALLERY_ROWS, GALLERY_COLS = 12, 10  # a run's inline gallery: at most this many concepts x layers


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise UserError("DataFrames need pandas, which is not installed: pip install 'layerdream[notebook]'") from None
    return pd


# -- concepts --------------------------------------------------------------------------------------
def concept_set(concepts: str | os.PathLike[str] | ConceptSet | Mapping[str, Sequence[Any]] | Sequence[str]) -> ConceptSet:
    """Whatever a user may pass as concepts, as a :class:`ConceptSet`.

    ``"paper"``, ``"toy"``, a .yaml/.csv path (as ``--concepts``); a ConceptSet; a dict
    ``{category: [concept, ...]}`` (entries may be ``{"name": ..., "synonyms": [...]}``, as in YAML files);
    or a plain list of concepts (one category, ``"concepts"``). Dicts and lists are named ``inline``.
    """
    from .sweep.conceptsets import ConceptSet, _from_yaml_obj, _validated, load_concept_set

    if isinstance(concepts, ConceptSet):
        return concepts
    if isinstance(concepts, (str, os.PathLike)):
        return load_concept_set(os.fspath(concepts))
    if isinstance(concepts, Mapping):
        return _validated(_from_yaml_obj({"categories": dict(concepts)}, INLINE_SET, INLINE_SET), INLINE_SET)
    if isinstance(concepts, Sequence) and concepts and all(isinstance(c, str) for c in concepts):
        return _validated(_from_yaml_obj({"categories": {"concepts": list(concepts)}}, INLINE_SET, INLINE_SET), INLINE_SET)
    raise UserError(f"concepts: expected 'paper', 'toy', a .yaml/.csv file, a dict {{category: [concepts]}} or a list "
                    f"of concepts, got {type(concepts).__name__}")


def baseline_words(path: str | os.PathLike[str]) -> list[str]:
    """Read a baseline file once (one word per line), so a RUN records the words themselves (a file can change)."""
    path = os.fspath(path)
    try:
        words = [w.strip() for w in open(path, encoding="utf-8").read().splitlines() if w.strip()]
    except OSError as err:
        raise UserError(f"cannot read --baseline {path!r} ({err.strerror or err}); pass a text file, one word per line") from None
    if not words:
        raise UserError(f"--baseline {path!r} is empty; give at least a few unrelated words, one per line")
    return words


# -- sweep -----------------------------------------------------------------------------------------
def prepare_sweep(model: str | VLM, concepts: Any, *, out: str | os.PathLike[str], layers: Sequence[int] = (1,),
                  seeds: Sequence[int] = (0,), preset: str = "fast", steps: int | None = None, dtype: str | None = None,
                  device: str | None = None, controls: bool = True, controls_per_category: int = 1, extend: bool = False,
                  batch_size: int | None = None, max_memory: str | int | None = None,
                  checkpoint_vision: str | bool = "auto", deterministic: bool = False, runner: Runner | None = None,
                  progress: bool = True,
                  execute: Callable | None = None, log: Callable[[str], None] | None = None,
                  **method: Any) -> tuple["SweepSpec", dict[str, Any]]:
    """Check every argument of :func:`sweep` and return ``(spec, keyword arguments of run_sweep)``.

    The CLI calls this and then ``run_sweep``; :func:`sweep` does the same. With a loaded VLM the
    engine is built here around it (nothing is loaded twice) after the same checks ``run_sweep`` makes
    before it loads a model: the folder, the RUN's settings, then every concept and layer (preflight).
    """
    from .synthesis.memory import parse_bytes
    from .sweep.settings import preset_constants
    from .sweep.sweeper import SweepSpec

    layers, seeds = _int_list(layers, "layers"), _int_list(seeds, "seeds")
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch must be at least 1 concept per forward, got {batch_size}")
    resources = {"max_memory": parse_bytes(max_memory), "checkpoint_vision": _checkpoint_vision(checkpoint_vision),
                 "deterministic": bool(deterministic)}
    if deterministic:  # cuBLAS reads its workspace setting at its first call: before the model loads
        from .synthesis.determinism import prepare

        prepare()
    if controls_per_category < 1:
        raise UserError("--controls-per-category must be at least 1 (use --no-controls to skip controls)")
    if any(layer < 0 for layer in layers):
        raise UserError(f"--layer must be non-negative, got {layers}")
    preset_constants(preset)  # an unknown preset is refused here, before anything is read or loaded
    options = _method_options(method)
    if isinstance(options.get("baseline"), (str, os.PathLike)):
        options["baseline"] = baseline_words(options["baseline"])
    vlm = None if isinstance(model, str) else model
    if vlm is not None:
        dtype = _dtype_of(vlm, dtype, device)
    spec = SweepSpec(model=model if vlm is None else vlm.name, concepts=concept_set(concepts), layers=layers, seeds=seeds,
                     preset=preset, steps=steps, dtype=dtype, controls=controls,
                     controls_per_category=controls_per_category, options=options)
    kwargs: dict[str, Any] = dict(device=device, batch_size=batch_size, resources=resources, extend=extend,
                                  progress=progress, runner=runner, execute=execute, log=log)
    if vlm is not None and execute is None:
        kwargs["execute"], kwargs["batch_size"] = _engine_for(vlm, spec, out, extend, resources, batch_size)
    return spec, kwargs


def sweep(model: str | VLM, concepts: Any, *, out: str | os.PathLike[str], layers: Sequence[int] = (1,),
          seeds: Sequence[int] = (0,), preset: str = "fast", steps: int | None = None, **options: Any) -> Run:
    """Synthesise concepts x layers x seeds (+ random and shuffled controls) into the RUN folder ``out``.

    ``model``: a name as for :func:`layerdream.load` (loaded only if something is left to do) or a loaded
    VLM. ``concepts``: see :func:`concept_set`. Calling it again resumes; a RUN made with other settings is
    refused (``extend=True`` adds layers or seeds). Other keywords, as the CLI flags: ``dtype``,
    ``device``, ``controls``, ``controls_per_category``, ``extend``, ``batch_size``, ``max_memory``
    (e.g. ``"40GiB"``), ``checkpoint_vision`` (``"auto"``, True, False), ``deterministic`` (GPU: the
    same PNG on a rerun, docs/reproducibility.md), ``runner`` (default: local; e.g. a Ray runner),
    ``progress``, and the method options ``lr``, ``tau``, ``copies``, ``weighting``,
    ``per_position_centring``, ``upsample``, ``prompt_format``, ``baseline`` (a file or a list of words),
    ``negatives`` (``{"text": 0.3}``). Returns the :class:`Run`; ``run.outcome`` says what was done.
    """
    from .sweep.sweeper import run_sweep

    spec, kwargs = prepare_sweep(model, concepts, out=out, layers=layers, seeds=seeds, preset=preset, steps=steps, **options)
    outcome = run_sweep(spec, out, **kwargs)
    run = Run(out)
    run.outcome = outcome
    return run


def _int_list(values: Any, what: str) -> list[int]:
    values = [values] if isinstance(values, int) else list(values)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise UserError(f"{what} must be one or more integers, got {values!r}")
    return values


def _checkpoint_vision(value: str | bool) -> str | bool:
    table = {"auto": "auto", "on": True, "off": False, True: True, False: False}
    if value not in table:
        raise UserError(f"checkpoint_vision must be 'auto', 'on', 'off', True or False, got {value!r}")
    return table[value]


METHOD_OPTIONS = ("lr", "tau", "copies", "weighting", "per_position_centring", "upsample", "prompt_format", "baseline",
                  "negatives")


def _method_options(method: dict[str, Any]) -> dict[str, Any]:
    """The method overrides a RUN records, exactly as the CLI's flags give them (so both make the same RUN)."""
    unknown = sorted(set(method) - set(METHOD_OPTIONS))
    if unknown:
        raise TypeError(f"unknown sweep option(s) {unknown}; method options are {', '.join(METHOD_OPTIONS)}")
    options = {k: method.get(k) for k in METHOD_OPTIONS}
    options["negatives"] = dict(options["negatives"]) or None if options["negatives"] else None
    if options["per_position_centring"] is False:
        options["per_position_centring"] = None  # the CLI flag can only say yes; no is the default
    if isinstance(options["baseline"], (list, tuple)):
        options["baseline"] = [str(w).strip() for w in options["baseline"] if str(w).strip()] or None
    return options


def _dtype_of(vlm: VLM, dtype: str | None, device: str | None) -> str | None:
    """The dtype a RUN records for an already-loaded VLM: None when it is the default for its device."""
    if device is not None and str(device) != str(vlm.device) and str(device) != vlm.device.type:
        raise UserError(f"device={device!r}, but the VLM is loaded on {vlm.device}; load it there: ld.load(..., device={device!r})")
    loaded = str(vlm.dtype).removeprefix("torch.")
    if dtype is not None and dtype != loaded:
        raise UserError(f"dtype={dtype!r}, but the VLM is loaded in {loaded}; load it so: ld.load(..., dtype={dtype!r})")
    default = "bfloat16" if vlm.device.type == "cuda" else "float32"
    return None if loaded == default else loaded


def _engine_for(vlm: VLM, spec: SweepSpec, out: Any, extend: bool, resources: dict[str, Any],
                batch_size: int | None) -> tuple[Callable, int]:
    """The engine around a loaded VLM, after the checks run_sweep makes before it loads one (writes nothing)."""
    from .sweep.execute import EngineExecute
    from .sweep.plan import plan_jobs
    from .sweep.store import Store
    from .sweep.sweeper import check_out_folder, planned_settings

    run_dir = check_out_folder(out)
    settings = planned_settings(spec, run_dir, extend)  # refuses other settings
    jobs = plan_jobs(spec.concepts, settings["layers"], settings["seeds"], spec.controls, spec.controls_per_category)
    done: set[str] = set()
    if Store.peek_settings(run_dir) is not None:
        store = Store.open_existing(run_dir, readonly=True)
        try:
            done = store.done_keys()
        finally:
            store.close()
    pending = [j for j in jobs if j.key not in done]
    engine = EngineExecute(vlm, spec.preset, spec.steps, spec.options, resources)
    if pending:
        engine.preflight([c.name for c in spec.concepts.concepts], sorted({j.layer for j in pending}))
    return engine, engine.planned_batch(pending or jobs, batch_size)


# -- judge -----------------------------------------------------------------------------------------
def make_judge(judge: str = "toy", *, model: str | None = None, base_url: str | None = None,
               api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, timeout: float = 60.0, max_retries: int = 4,
               max_tokens: int | None = None, temperature: float | None = None, reasoning_effort: str | None = None,
               device: str | None = None, dtype: str | None = None, clip_template: str = "an image of {}",
               grader: str | None = None, grader_model: str | None = None, grader_base_url: str | None = None,
               grader_api_key_env: str | None = None) -> Judge:
    """Build a judge exactly as ``--judge ... --judge-model ...`` does (defaults included); see docs/evaluation.md."""
    from .evaluation.evaluate import make_judge as build

    grading: dict[str, Any] = {}
    if grader_model:
        grading = {"grader_model": grader_model, "grader_base_url": grader_base_url, "grader_api_key_env": grader_api_key_env}
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


def protocol_list(protocols: str | Sequence[str]) -> tuple[str, ...]:
    """``"stringent,lenient"`` or a sequence, checked (never pooled: each protocol is its own question)."""
    from .evaluation.prompts import PROTOCOLS

    items = protocols.split(",") if isinstance(protocols, str) else list(protocols)
    out = tuple(str(p).strip() for p in items if str(p).strip())
    bad = [p for p in out if p not in PROTOCOLS]
    if bad or not out:
        raise UserError(f"--protocol must be a comma list of {', '.join(PROTOCOLS)}, got {protocols!r}")
    return out


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
    from .evaluation.grading import grader_label
    from .sweep.judging import judge_run
    from .sweep.store import Store

    run = run if isinstance(run, Run) else Run(run)
    protocols = protocol_list(protocols)
    if n_queries < 1:
        raise UserError("--n-queries must be at least 1")
    store = Store.open_existing(run.path)
    try:
        outcome = judge_run(store, judge, protocols=protocols, n_queries=n_queries, rejudge=rejudge, progress=progress)
    finally:
        store.close()
    return JudgeSummary(run, getattr(judge, "id", "judge"), grader_label(getattr(judge, "grader_id", None)), outcome)


def judge(run: Run | str | os.PathLike[str], judge: str | Judge = "toy", *, protocols: str | Sequence[str] = ("stringent", "lenient"),
          n_queries: int = 10, rejudge: bool = False, progress: bool = True, **judge_options: Any) -> JudgeSummary:
    """Judge (or re-judge) a RUN's images; verdicts go into the RUN, and a later call judges only what is new.

    ``judge``: ``"toy"``, ``"openai"``, ``"hf"``, ``"clip"`` (options as :func:`make_judge`: ``model``,
    ``base_url``, ``grader_model``, ...) or a judge object. Works on a sweep still running. Failed
    queries are kept as errors and asked again next time; more than half failed raises UserError.
    """
    from .sweep.store import Store

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

    from .evaluation.evaluate import evaluate
    from .evaluation.types import JudgeItem

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


def check_image_file(path: str) -> None:
    """A readable image, or one UserError: checked before a judge is built or a query is paid for."""
    from PIL import Image

    if not os.path.isfile(path):
        raise UserError(f"no image file {path!r}; pass the path of a PNG or JPEG")
    try:
        with Image.open(path) as img:
            img.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split())[:120]
        raise UserError(f"{path!r} is not an image that can be read ({type(err).__name__}: {reason}); "
                        "pass a PNG or JPEG") from None


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
    """What the judge just measured, all categories pooled: concepts beside their controls, per
    protocol and layer, with 95 % Wilson intervals over queries (the report has every category)."""
    from .report.build import load
    from .report.tables import ALL

    rows = [r for r in load(run, judge_id)["table"] if r["category"] == ALL]
    lines = [f"recognition rate by layer (all categories; 95 % CI over queries); details: layerdream report {run}"]
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        cells = {(r["kind"], r["layer"]): r for r in rows if r["protocol"] == protocol}
        for layer in sorted({layer for _, layer in cells}):
            parts = []
            for kind in ("concept", "shuffled", "random"):
                r = cells.get((kind, layer))
                if r and r["rate"] is not None:
                    parts.append(f"{kind} {r['rate']:.2f} [{r['ci_queries_lo']:.2f}, {r['ci_queries_hi']:.2f}] n={r['n']}")
            if parts:
                lines.append(f"  {protocol:<9} layer {layer:>2}: " + "   ".join(parts))
    return "\n".join(lines)


# -- report ----------------------------------------------------------------------------------------
def report(run: Run | str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None, format: str = "html",
           embed: bool = False, verdicts: str | None = None) -> Path | str:
    """The RUN's report: HTML (default ``RUN/report.html``; ``embed=True``: one portable file anywhere), or
    the tables as ``format="csv"``/``"json"`` (written to ``out``, else returned as text).

    ``verdicts``: which judge's (a stored id or its unambiguous start, e.g. ``"toy"``); default the latest.
    An existing ``out`` is replaced only if it is an earlier report. Returns the path written, or the text.
    """
    from .io import atomic_write_bytes
    from .report.build import check_out, export, load, write_html
    from .sweep.store import Store

    if format not in ("html", "csv", "json"):
        raise UserError(f"format must be html, csv or json, got {format!r}")
    path = run.path if isinstance(run, Run) else Path(run)
    Store.open_existing(path, readonly=True).close()  # a bad RUN is named first
    target = check_out(out, format, embed, path)  # where it goes, checked before any work
    data = load(path, verdicts)
    if format == "html":
        with keep_matplotlib_backend():
            return write_html(data, target, embed=embed)
    blob = export(data, format)
    if target is None:
        return blob.decode()
    try:
        atomic_write_bytes(target, blob)
    except OSError as err:
        raise UserError(f"cannot write --out {str(target)!r} ({err.strerror or err})") from None
    return target


# -- align -----------------------------------------------------------------------------------------
@dataclass
class Alignment:
    """The cosine alignment analysis of :func:`align`: one row per (aggregation, layer, concept) + ``All`` rows."""

    rows: list[dict[str, Any]]
    model: str
    source: str

    def table(self) -> pd.DataFrame:
        """The rows as a DataFrame (matching, mismatching, noise, gray_noise, margin, n_matching, ...)."""
        return _pandas().DataFrame(self.rows)

    def summary(self) -> list[str]:
        """One line per (aggregation, layer): the ``All`` row, as ``layerdream align`` prints it."""
        return [f"{r['aggregation']:>9} layer {r['layer']:>3}: matching {r['matching']:+.3f}  mismatching {r['mismatching']:+.3f}  "
                f"noise {r['noise']:+.3f}  gray+noise {r['gray_noise']:+.3f}  margin {r['margin']:+.3f}"
                for r in self.rows if r["concept"] == "All"]

    def plot(self, path: str | os.PathLike[str] | None = None) -> PNG | Path:
        """Cosine vs layer per aggregation; written to ``path`` if given, else returned as an inline image."""
        import tempfile

        from .diagnostics import align as A

        title = f"{self.model}: text-image alignment ({self.source})"
        with keep_matplotlib_backend():
            if path is not None:
                return A.plot(self.rows, Path(path), title=title)
            with tempfile.TemporaryDirectory(prefix="layerdream-align-") as tmp:
                return PNG(A.plot(self.rows, Path(tmp) / "alignment.png", title=title).read_bytes())

    def save(self, out: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``alignment.csv`` and ``alignment.png`` into the folder ``out`` (atomically)."""
        import csv

        from .io import atomic_write_bytes, ensure_writable_dir

        folder = ensure_writable_dir(out)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.rows[0]))
        writer.writeheader()
        writer.writerows(self.rows)
        csv_path = atomic_write_bytes(folder / "alignment.csv", buf.getvalue().encode())
        return csv_path, Path(self.plot(folder / "alignment.png"))

    def _repr_html_(self) -> str:
        lines = "<br>".join(_html.escape(s) for s in self.summary())
        return (f"<div><b>{_html.escape(self.model)}</b>: text-image alignment ({_html.escape(self.source)})<br>"
                f"<img src='{_data_uri(self.plot().data)}' style='max-width:100%'><br><code>{lines}</code></div>")

    def __repr__(self) -> str:
        return "\n".join([f"Alignment({self.model!r}, {len(self.rows)} rows, {self.source})", *self.summary()])


def align(model: str | VLM, concepts: Any = "toy", *, images: str | os.PathLike[str] | None = None,
          layers: Sequence[int] | None = None, aggregations: str | Sequence[str] = ("mean", "attention"),
          tau: float | None = None, prompt_format: str = "chat", baseline: Any = None, n_images: int = 64,
          n_controls: int = 16, seed: int = 0, out: str | os.PathLike[str] | None = None,
          device: str | None = None, dtype: str | None = None) -> Alignment:
    """Cosine between concept vectors and real images' representations, per layer: matching vs mismatching
    images vs content-free controls (noise, gray + noise), with both aggregations unless told.

    ``images``: a folder with one subfolder per concept (default for ``concepts="toy"``: the toy world's
    images); checked before the model loads. ``layers``: default every layer. ``out``: also write
    ``alignment.csv`` and ``alignment.png`` there. Returns an :class:`Alignment`.
    """
    from .diagnostics import align as A

    if n_images < 1 or n_controls < 1:
        raise UserError("--n-images and --n-controls must be at least 1")
    if tau is not None and tau <= 0:
        raise UserError(f"--tau must be positive, got {tau}")
    aggs = [a.strip() for a in aggregations.split(",")] if isinstance(aggregations, str) else list(aggregations)
    bad = [a for a in aggs if a not in A.AGGREGATIONS]
    if bad or not aggs:
        raise UserError(f"unknown aggregation {bad or aggs}; choose from {', '.join(A.AGGREGATIONS)}")
    cs = concept_set(concepts)
    names = [c.name for c in cs.concepts]
    if isinstance(baseline, (str, os.PathLike)):
        baseline = baseline_words(baseline)
    data = None
    if images is not None:  # every file checked, and the margin defined, before the model loads
        A.check_contrast(names, [{c} for _, c in A.scan_image_dir(images, names)])
    elif cs.name == "toy":
        data = A.images_from_toyworld(n_images, seed)
        A.check_contrast(names, data.labels)
    else:
        raise UserError("--images DIR is needed (only --concepts toy has default images: the toy world's)")
    if out is not None:
        from .io import ensure_writable_dir

        ensure_writable_dir(out)
    vlm = _load(model, device, dtype)
    if data is None:
        data = A.images_from_dir(images, names, vlm.image_size)
    layer_list = _int_list(layers, "layers") if layers is not None else list(range(1, vlm.num_layers + 1))
    rows = A.alignment(vlm, names, {c.name: c.category for c in cs.concepts}, data, layer_list, n_controls, seed,
                       aggregations=list(dict.fromkeys(aggs)), tau=tau, prompt_format=prompt_format, baseline=baseline)
    if not rows:
        raise UserError("no concept has a matching image; check the subfolder names against the concepts")
    result = Alignment(rows, vlm.name, data.source)
    if out is not None:
        result.save(out)
    return result


def _load(model: str | VLM, device: str | None, dtype: str | None) -> VLM:
    if not isinstance(model, str):
        return model
    import layerdream as ld

    return ld.load(model, device=device, dtype=dtype)


# -- runs and DataFrames -----------------------------------------------------------------------------
class Run:
    """A sweep's RUN folder, read-only: its images, verdicts and tables as DataFrames, and inline display.

    Every method reads the RUN afresh (its SQLite file is the truth), so a Run shows a sweep or a judge
    still running in another process. Nothing here writes to the RUN.
    """

    def __init__(self, path: str | os.PathLike[str]):
        from .sweep.store import Store

        self.path = Path(path)
        Store.open_existing(self.path, readonly=True).close()  # one line if it is no RUN
        self.outcome: SweepOutcome | None = None  # set by ld.sweep: what that call did

    def _data(self, judge: str | None = None) -> dict[str, Any]:
        from .report.build import load

        return load(self.path, judge)

    def _store(self, read: Callable[[Any], Any]) -> Any:
        from .sweep.store import Store

        store = Store.open_existing(self.path, readonly=True)
        try:
            return read(store)
        finally:
            store.close()

    @property
    def settings(self) -> dict[str, Any]:
        """What the RUN was made with (model, preset, steps, concept set, controls, layers, seeds, options)."""
        return self._store(lambda s: s.get_meta("settings"))

    @property
    def judges(self) -> list[str]:
        """The judges with verdicts in this RUN, most recent first."""
        return self._store(lambda s: s.judges())

    def results(self) -> pd.DataFrame:
        """One row per image: concept, category, kind (concept | random | shuffled), layer, seed, cosines,
        image path (absolute), and source (what made it: the concept, a donor concept, random#i)."""
        pd = _pandas()
        rows = [{"concept": r["concept"], "category": r["category"], "kind": r["kind"], "layer": r["layer"],
                 "seed": r["seed"], "cosine_initial": r["cosine_initial"], "cosine_final": r["cosine_final"],
                 "image_path": str(self.path / r["image_path"]), "source": r["source"], "seconds": r["seconds"],
                 "key": r["key"], "image_sha256": r["image_sha256"]}
                for r in self._data()["results"]]
        columns = ["concept", "category", "kind", "layer", "seed", "cosine_initial", "cosine_final", "image_path",
                   "source", "seconds", "key", "image_sha256"]
        return pd.DataFrame(rows, columns=columns)

    def verdicts(self, judge: str | None = None) -> pd.DataFrame:
        """One row per query of ``judge`` (default the latest; a stored id or its start, e.g. "toy") about the
        images the RUN holds now: score 1/0, or None with ``error`` set for a failed query."""
        pd = _pandas()
        data = self._data(judge)
        about = {r["key"]: r for r in data["results"]}
        rows = []
        for v in data["verdicts"]:
            r = about.get(v["key"], {})
            rows.append({"concept": v["concept"], "category": r.get("category"), "kind": r.get("kind"),
                         "layer": r.get("layer"), "seed": r.get("seed"), "protocol": v["protocol"],
                         "query_index": v["query_index"], "score": v["score"], "answer": v["answer"], "error": v["error"],
                         "judge": v["judge"], "grader": v["grader"], "prompt_version": v["prompt_version"], "key": v["key"]})
        columns = ["concept", "category", "kind", "layer", "seed", "protocol", "query_index", "score", "answer", "error",
                   "judge", "grader", "prompt_version", "key"]
        frame = pd.DataFrame(rows, columns=columns)
        frame.attrs.update(judge=data["judge"], grader=data["grader"])
        return frame

    def recognition(self, by: str | Sequence[str] = ("category", "layer"), protocol: str | None = None,
                    judge: str | None = None, controls: str = "same") -> pd.DataFrame:
        """Recognition rate of the concepts per group, one row per (group, protocol); protocols are never pooled.

        ``by``: any of category, concept, layer, seed. Columns: the ``by`` keys, protocol, images, k
        (positive answers), n (scored answers), rate with its 95 % Wilson interval over queries
        (ci_queries_lo/hi), image_rate with its interval over images (ci_images_lo/hi), errors, and each
        control's rate beside it: random_rate, random_ci_queries_lo/hi, random_n, random_images, and the
        same for shuffled. ``controls="same"``: the controls of the same group; ``"pooled"``: all
        categories' controls at the same layer (and seed), as the report's figure draws them.
        """
        from .evaluation.prompts import PROTOCOLS

        pd = _pandas()
        keys = (by,) if isinstance(by, str) else tuple(by)
        if not keys or len(set(keys)) != len(keys) or any(k not in RECOGNITION_BY for k in keys):
            raise UserError(f"by must be one or more of {', '.join(RECOGNITION_BY)} (each once), got {by!r}")
        if protocol is not None and protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
        if controls not in ("same", "pooled"):
            raise UserError(f"controls must be 'same' or 'pooled', got {controls!r}")
        data = self._data(judge)
        verdicts = [v for v in data["verdicts"] if protocol is None or v["protocol"] == protocol]
        rows = grouped_recognition(data["results"], verdicts, keys)
        control_keys = keys if controls == "same" else tuple(k for k in keys if k in ("layer", "seed"))
        chance = rows if control_keys == keys else grouped_recognition(data["results"], verdicts, control_keys)
        out = []
        for row in rows:
            if row["kind"] != "concept":
                continue
            entry = {k: row[k] for k in keys}
            entry["protocol"] = row["protocol"]
            entry.update({k: row[k] for k in ("images", "k", "n", "rate", "ci_queries_lo", "ci_queries_hi", "image_rate",
                                               "ci_images_lo", "ci_images_hi", "errors")})
            for kind in CONTROL_KINDS:
                match = next((c for c in chance if c["kind"] == kind and c["protocol"] == row["protocol"]
                              and all(c[k] == row[k] for k in control_keys)), None)
                for col in ("rate", "ci_queries_lo", "ci_queries_hi", "n", "images"):
                    entry[f"{kind}_{col}"] = None if match is None else match[col]
            out.append(entry)
        columns = [*keys, "protocol", "images", "k", "n", "rate", "ci_queries_lo", "ci_queries_hi", "image_rate",
                   "ci_images_lo", "ci_images_hi", "errors",
                   *[f"{kind}_{col}" for kind in CONTROL_KINDS for col in ("rate", "ci_queries_lo", "ci_queries_hi", "n", "images")]]
        frame = pd.DataFrame(out, columns=columns)
        order = _sort_order(data["concepts"])
        frame = frame.sort_values(by=["protocol", *keys], key=lambda col: col.map(lambda v: order(col.name, v)),
                                  kind="stable").reset_index(drop=True)
        frame.attrs.update(judge=data["judge"], grader=data["grader"], controls=controls)
        return frame

    def cosines(self) -> pd.DataFrame:
        """Mean final cosine per (kind, category or All, layer): the engine's own score, before any judge."""
        return _pandas().DataFrame(self._data()["cosine"])

    def plot_recognition(self, protocol: str | None = None, judge: str | None = None) -> PNG:
        """The report's Figure 3 for one protocol (default the first judged): rate vs layer per category,
        95 % Wilson band, random and shuffled controls as gray chance lines. An inline image."""
        import tempfile

        from .report.build import _figure_title, sections
        from .report.plots import figure3

        data = self._data(judge)
        found = sections(data)
        if not found:
            raise UserError(f"RUN {str(self.path)!r} has no verdicts yet; judge it first: ld.judge(run, 'toy')")
        one = len(found) == 1 and data.get("one_question")  # the judge gave both protocols identical answers
        chosen = [s for s in found if protocol is None or one or s[1] == protocol]
        if not chosen:
            raise UserError(f"no verdicts for protocol {protocol!r}; judged protocols: {[p for _, p in found]}")
        heading, proto = chosen[0]
        with tempfile.TemporaryDirectory(prefix="layerdream-plot-") as tmp, keep_matplotlib_backend():
            png = figure3(data["table"], proto, Path(tmp) / "figure3.png", title=_figure_title(heading, data["grader"]))
            if png is None:
                raise UserError(f"nothing to plot: no scored query for protocol {proto!r} (all failed?)")
            return PNG(png.read_bytes())

    def show(self, **kwargs: Any) -> Any:
        """The concept x layer grid of this RUN's images (:func:`show`)."""
        return show(self, **kwargs)

    def report(self, **kwargs: Any) -> Path | str:
        """The RUN's report (:func:`report`)."""
        return report(self, **kwargs)

    def __repr__(self) -> str:
        data = self._data()
        return (f"Run({str(self.path)!r}: {len(data['results'])} of {data['planned']} images, "
                f"judges {data['judges'] or 'none yet'})")

    def _repr_html_(self) -> str:
        try:
            return self._html()
        except Exception as err:  # noqa: BLE001 - a display must never raise; the text repr still works
            return f"<pre>{_html.escape(repr(self))}\n(no gallery: {_html.escape(type(err).__name__)}: {_html.escape(str(err))})</pre>"

    def _html(self) -> str:
        from .report.build import sections

        data = self._data()
        settings = data["config"]["settings"]
        results = [r for r in data["results"] if r["kind"] == "concept"]
        seed = min((r["seed"] for r in results), default=None)
        cells = {(r["concept"], r["layer"]): r for r in results if r["seed"] == seed}
        concepts = [c["name"] for c in data["concepts"] if any(c["name"] == k for k, _ in cells)]
        layers = sorted({layer for _, layer in cells})
        head = (f"<b>RUN {_html.escape(str(self.path))}</b>: {len(data['results'])} of {data['planned']} images; model "
                f"{_html.escape(str(settings.get('model')))}, preset {_html.escape(str(settings.get('preset')))}; judge: "
                f"{_html.escape(str(data['judge'] or 'none yet'))}")
        shown_c, shown_l = concepts[:GALLERY_ROWS], layers[:GALLERY_COLS]
        more = ""
        if len(concepts) > len(shown_c) or len(layers) > len(shown_l):
            more = (f"<br><i>first {len(shown_c)} of {len(concepts)} concepts, {len(shown_l)} of {len(layers)} layers; "
                    "ld.show(run, concepts=..., layers=...) for others</i>")
        rows = ["<tr><th></th>" + "".join(f"<th>layer {l}</th>" for l in shown_l) + "</tr>"]
        for c in shown_c:
            tds = []
            for l in shown_l:
                r = cells.get((c, l))
                if r is None:
                    tds.append("<td></td>")
                    continue
                uri = _data_uri((self.path / r["image_path"]).read_bytes())
                cos = "" if r["cosine_final"] is None else f"cos {r['cosine_final']:.2f}"
                tds.append(f"<td style='text-align:center'><img src='{uri}' width='96' style='image-rendering:pixelated'>"
                           f"<br><small>{cos}</small></td>")
            rows.append(f"<tr><th style='text-align:right'>{_html.escape(c)}</th>{''.join(tds)}</tr>")
        gallery = f"<table>{''.join(rows)}</table>" if shown_c else "<i>no concept images yet</i>"
        plot = ""
        if data["verdicts"] and sections(data):
            plot = f"<br><img src='{_data_uri(self.plot_recognition().data)}' style='max-width:100%'>"
        caption = f"<br><small>concept images, seed {seed}</small>" if seed is not None else ""
        return f"<div>{head}{more}{gallery}{caption}{plot}</div>"


def grouped_recognition(results: list[dict[str, Any]], verdicts: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """``report.tables.recognition_table`` grouped by ``keys`` instead of (category, layer): the same counts
    and Wilson intervals, computed by the same code. Each row carries its group's key values."""
    from .report.tables import ALL, recognition_table

    group = [k for k in keys if k != "layer"]
    relabelled = [{**r, "category": "\x1f".join(str(r[k]) for k in group), "layer": r["layer"] if "layer" in keys else 0}
                  for r in results]
    values = {"\x1f".join(str(r[k]) for k in group): {k: r[k] for k in group} for r in results}
    out = []
    for row in recognition_table(relabelled, verdicts):
        if row["category"] == ALL and group:
            continue
        if not group and row["category"] != ALL:
            continue
        entry = dict(row)
        entry.update(values.get(row["category"], {}) if group else {})
        if "layer" not in keys:
            entry.pop("layer")
        if "category" not in keys:
            entry.pop("category", None)
        out.append(entry)
    return out


def _sort_order(concepts: list[dict[str, Any]]) -> Callable[[str, Any], Any]:
    """Sort key for recognition rows: protocols stringent first, categories and concepts in the set's order."""
    cats = {c: i for i, c in enumerate(dict.fromkeys(x["category"] for x in concepts))}
    names = {x["name"]: i for i, x in enumerate(concepts)}

    def key(column: str, value: Any) -> Any:
        if column == "protocol":
            return 0 if value == "stringent" else 1
        if column == "category":
            return cats.get(value, len(cats))
        if column == "concept":
            return names.get(value, len(names))
        return value

    return key


def open_run(path: str | os.PathLike[str]) -> Run:
    """The RUN folder made by a sweep (:func:`sweep` or ``layerdream sweep``), for DataFrames and display."""
    return Run(path)


# -- display ---------------------------------------------------------------------------------------
class PNG:
    """A PNG image that shows itself in Jupyter (``_repr_png_``); ``save(path)`` writes it."""

    def __init__(self, data: bytes):
        self.data = data

    def _repr_png_(self) -> bytes:
        return self.data

    def save(self, path: str | os.PathLike[str]) -> Path:
        from .io import atomic_write_bytes

        atomic_write_bytes(Path(path), self.data)
        return Path(path)

    def to_pil(self) -> Any:
        from PIL import Image

        return Image.open(io.BytesIO(self.data))

    def __repr__(self) -> str:
        return f"PNG({len(self.data)} bytes)"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@contextlib.contextmanager
def keep_matplotlib_backend() -> Iterator[None]:
    """The report's plotting code selects matplotlib's Agg backend (headless, for the CLI); in a notebook
    that would silently stop every later figure from showing inline. Put the user's backend back."""
    import matplotlib

    before = dict.__getitem__(matplotlib.rcParams, "backend")
    try:
        yield
    finally:
        after = dict.__getitem__(matplotlib.rcParams, "backend")
        if after != before and isinstance(before, str):
            pyplot = sys.modules.get("matplotlib.pyplot")
            if pyplot is not None:
                pyplot.switch_backend(before)
            else:
                matplotlib.rcParams["backend"] = before


def show(results: Any, *, kind: str = "concept", seed: int | None = None, concepts: Sequence[str] | None = None,
         layers: Sequence[int] | None = None, size: float = 1.6) -> Any:
    """A concept x layer grid of images (matplotlib), the final cosine under each; returns the Figure.

    ``results``: a list of :class:`SynthesisResult`, a :class:`Run` (or its folder), or a DataFrame from
    ``run.results()``. One seed is shown (default the smallest); ``kind`` picks concept images or a
    control kind of a RUN; ``concepts``/``layers`` select and order rows and columns.
    """
    import matplotlib.pyplot as plt

    cells, order = _cells(results, kind)
    if not cells:
        raise UserError(f"nothing to show: no {kind} images")
    seeds = sorted({s for _, _, s in cells})
    seed = seeds[0] if seed is None else seed
    if seed not in seeds:
        raise UserError(f"no images for seed {seed}; seeds: {seeds}")
    picked = {(c, l): v for (c, l, s), v in cells.items() if s == seed}
    shown = {c for c, _ in picked}
    rows = list(concepts) if concepts is not None else [c for c in dict.fromkeys([*order, *(c for c, _ in picked)]) if c in shown]
    cols = list(layers) if layers is not None else sorted({l for _, l in picked})
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(size * len(cols) + 0.8, size * len(rows) + 0.5), squeeze=False)
    for i, concept in enumerate(rows):
        for j, layer in enumerate(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            cell = picked.get((concept, layer))
            if cell is None:
                ax.set_frame_on(False)
            else:
                image, cosine = cell
                ax.imshow(image(), interpolation="nearest")
                if cosine is not None:
                    ax.set_xlabel(f"cos {cosine:.2f}", fontsize=8)
            if i == 0:
                ax.set_title(f"layer {layer}", fontsize=9)
            if j == 0:
                ax.set_ylabel(concept, fontsize=9)
    fig.suptitle(f"{kind} images, seed {seed}", fontsize=10)
    fig.tight_layout()
    plt.close(fig)  # returned, not also drawn by the inline backend: it shows once
    return fig


def _cells(results: Any, kind: str) -> tuple[dict[tuple[str, int, int], tuple[Callable[[], Any], float | None]], list[str]]:
    """((concept, layer, seed) -> (a function giving the image, final cosine), preferred row order)."""
    order: list[str] = []
    if isinstance(results, (str, os.PathLike)):
        results = Run(results)
    if isinstance(results, Run):
        order = [c["name"] for c in results._data()["concepts"]]  # the concept set's order, not the database's
        results = results.results()
    if hasattr(results, "to_dict") and hasattr(results, "columns"):  # a DataFrame from run.results()
        missing = {"concept", "layer", "seed", "image_path"} - set(results.columns)
        if missing:
            raise UserError(f"show(): the DataFrame lacks column(s) {sorted(missing)}; pass run.results()")
        rows = results.to_dict("records")
        return {(r["concept"], int(r["layer"]), int(r["seed"])): (_reader(r["image_path"]), _cos(r.get("cosine_final")))
                for r in rows if r.get("kind", "concept") == kind}, order
    items = [results] if hasattr(results, "to_pil") else list(results)
    if not all(hasattr(r, "to_pil") and hasattr(r, "layer") for r in items):
        raise UserError("show() takes SynthesisResults, a Run (or its folder) or run.results()")
    wanted = {"concept": "concept", "random": "vector", "shuffled": "vector"}.get(kind, kind)
    return {(r.label, r.layer, r.seed): ((lambda r=r: r.to_pil()), _cos(r.cosine_final))
            for r in items if getattr(r, "target", "concept") == wanted}, order


def _reader(path: str) -> Callable[[], Any]:
    def read() -> Any:
        from PIL import Image

        with Image.open(path) as img:
            return img.convert("RGB")

    return read


def _cos(value: Any) -> float | None:
    try:
        return None if value is None or value != value else float(value)
    except (TypeError, ValueError):
        return None
