"""``ld.sweep`` (and ``prepare_sweep``, the CLI's half of it) and ``ld.report``: the study's first and last step.

The heavy lifting stays in the subsystems (``sweep.sweeper.run_sweep``, ``report.build``); this module
checks the arguments and assembles, so ``layerdream sweep`` and ``ld.sweep`` make the same RUN."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import UserError
from .coerce import _checkpoint_vision, _int_list, _method_options, baseline_words, concept_set
from .display import keep_matplotlib_backend
from .run import Run

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    from ..models.vlm import VLM
    from ..sweep.runner import Runner
    from ..sweep.sweeper import SweepSpec


def prepare_sweep(model: str | VLM, concepts: Any, *, out: str | os.PathLike[str], layers: Sequence[int] = (1,),
                  seeds: Sequence[int] = (0,), preset: str | None = None, steps: int | None = None, dtype: str | None = None,
                  device: str | None = None, controls: bool = True, controls_per_category: int | None = None, extend: bool = False,
                  ablation: str | Sequence[str] | None = None,
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
    from ..synthesis.memory import parse_bytes
    from ..sweep.settings import device_default_dtype, preset_constants
    from ..sweep.plan import arms_for
    from ..sweep.sweeper import SweepSpec, resolve_spec

    from .. import checks
    from ..models.vlm import require_vlm

    out = checks.path(out, "out (the RUN folder)")
    if not isinstance(model, (str, os.PathLike)):
        require_vlm(model, "sweep")  # None or a typo'd object: one line, not an AttributeError later
    model = os.fspath(model) if isinstance(model, os.PathLike) else model
    layers, seeds = _int_list(layers, "layers"), _int_list(seeds, "seeds")
    checks.optional_whole_number(steps, "steps")
    checks.optional_whole_number(batch_size, "batch_size")
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch must be at least 1 concept per forward, got {batch_size}")
    resources = {"max_memory": parse_bytes(max_memory), "checkpoint_vision": _checkpoint_vision(checkpoint_vision),
                 "deterministic": bool(deterministic)}
    if deterministic:  # cuBLAS reads its workspace setting at its first call: before the model loads
        from ..synthesis.determinism import prepare

        prepare()
    if controls_per_category is not None and not controls:
        raise UserError(f"--controls-per-category {controls_per_category} with --no-controls: drop one of them")
    if controls_per_category is not None and (isinstance(controls_per_category, bool) or not isinstance(controls_per_category, int)
                                              or controls_per_category < 1):
        raise UserError(f"--controls-per-category must be a whole number of at least 1, got {controls_per_category!r} "
                        "(use --no-controls to skip controls)")
    if any(layer < 0 for layer in layers):
        raise UserError(f"--layer must be non-negative, got {layers}")
    if preset is not None:
        preset_constants(preset)  # an unknown preset is refused here, before anything is read or loaded
    options = _method_options(method)
    if isinstance(options.get("baseline"), (str, os.PathLike)):
        options["baseline"] = baseline_words(options["baseline"])
    vlm = None if isinstance(model, str) else model
    if vlm is not None:
        dtype = _dtype_of(vlm, dtype, device)
    spec = SweepSpec(model=model if vlm is None else vlm.name, concepts=concept_set(concepts), layers=layers, seeds=seeds,
                     preset=preset, steps=steps, dtype=dtype, controls=controls,
                     controls_per_category=controls_per_category, options=options, arms=arms_for(ablation),
                     default_dtype=device_default_dtype(str(vlm.device)) if vlm is not None else None)
    spec = resolve_spec(spec, out)  # None: the RUN's own number of controls, else the default
    kwargs: dict[str, Any] = dict(device=device, batch_size=batch_size, resources=resources, extend=extend,
                                  progress=progress, runner=runner, execute=execute, log=log)
    if vlm is not None and execute is None:
        kwargs["execute"], kwargs["batch_size"] = _engine_for(vlm, spec, out, extend, resources, batch_size)
    return spec, kwargs


def sweep(model: str | VLM, concepts: Any, *, out: str | os.PathLike[str], layers: Sequence[int] = (1,),
          seeds: Sequence[int] = (0,), preset: str | None = None, steps: int | None = None, **options: Any) -> Run:
    """Synthesise concepts x layers x seeds (+ random and shuffled controls) into the RUN folder ``out``.

    ``model``: a name as for :func:`layerdream.load` (loaded only if something is left to do) or a loaded
    VLM. ``concepts``: see :func:`concept_set`. ``preset`` None: ``paper`` for a real checkpoint, ``fast``
    for a toy model (the RUN records the rule: ``run.settings``, meta ``preset_rule``). Calling it again resumes; a RUN made with other settings is
    refused (``extend=True`` adds layers or seeds). Other keywords, as the CLI flags: ``dtype``,
    ``device``, ``controls``, ``controls_per_category``, ``extend``, ``batch_size``, ``max_memory``
    (e.g. ``"40GiB"``), ``checkpoint_vision`` (``"auto"``, True, False), ``deterministic`` (GPU: the
    same PNG on a rerun, docs/reproducibility.md), ``runner`` (default: local; e.g. a Ray runner),
    ``progress``, and the method options ``lr``, ``tau``, ``copies``, ``weighting``,
    ``per_position_centring``, ``upsample``, ``prompt_format``, ``baseline`` (a file or a list of words),
    ``negatives`` (``{"text": 0.3}``), ``ablation`` (``"weighting"``: every concept also made with mean
    pooling and with the spatial prior off, shown beside the main result; ``extend=True`` adds it to a
    RUN). Returns the :class:`Run`; ``run.outcome`` says what was done.
    """
    from ..sweep.sweeper import run_sweep

    spec, kwargs = prepare_sweep(model, concepts, out=out, layers=layers, seeds=seeds, preset=preset, steps=steps, **options)
    outcome = run_sweep(spec, out, **kwargs)
    run = Run(out)
    run.outcome = outcome
    return run


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
    from ..sweep.execute import EngineExecute
    from ..sweep.plan import plan_jobs
    from ..sweep.store import Store
    from ..sweep.sweeper import check_out_folder, planned_settings

    run_dir = check_out_folder(out)
    settings = planned_settings(spec, run_dir, extend)  # refuses other settings
    jobs = plan_jobs(spec.concepts, settings["layers"], settings["seeds"], spec.controls, spec.controls_per_category,
                     settings.get("arms", []))
    done: set[str] = set()
    if Store.peek_settings(run_dir) is not None:
        store = Store.open_existing(run_dir, readonly=True)
        try:
            done = store.done_keys()
        finally:
            store.close()
    pending = [j for j in jobs if j.key not in done]
    preset, rule = spec.resolved_preset
    engine = EngineExecute(vlm, preset, spec.steps, spec.options, resources, preset_rule=rule)
    if pending:
        engine.preflight([c.name for c in spec.concepts.concepts], sorted({j.layer for j in pending}))
    return engine, engine.planned_batch(pending or jobs, batch_size)


def report(run: Run | str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None, format: str = "html",
           embed: bool = False, verdicts: str | None = None) -> Path | str:
    """The RUN's report: HTML (default ``RUN/report.html``; ``embed=True``: one portable file anywhere), or
    the tables as ``format="csv"``/``"json"`` (written to ``out``, else returned as text).

    ``verdicts``: which judge's (a stored id or its unambiguous start, e.g. ``"toy"``); default the latest.
    An existing ``out`` is replaced only if it is an earlier report. Returns the path written, or the text.
    """
    from ..io import atomic_write_bytes
    from ..report.build import check_out, export, load, write_html
    from ..sweep.store import Store

    if format not in ("html", "csv", "json"):
        raise UserError(f"format must be html, csv or json, got {format!r}")
    from .. import checks

    path = run.path if isinstance(run, Run) else Path(checks.path(run, "the RUN folder"))
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
