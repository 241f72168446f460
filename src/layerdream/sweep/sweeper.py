"""``run_sweep``: plan, check the RUN, skip what is done, run the rest, one result at a time.

The order matters for the user: everything that can be refused (unreadable concepts file, a RUN
made with other settings, an unwritable folder) is refused *before* the model loads, in seconds, and
nothing is written until the model has accepted every layer and every concept, and a Ray runner has
reached its cluster and fitted its workers to it (the preflight): a sweep that fails on its concept
file or its --workers leaves no RUN behind that would then refuse the corrected command.

Resuming trusts no file blindly: every recorded image must still exist and hash to its recorded
sha256; a row whose image is gone or changed is dropped and its job made again.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..io import versions
from .conceptsets import ConceptSet
from .execute import EngineExecute, Persist, check_schedule, clean_stale_temp_files
from .plan import Job, plan_jobs
from .runner import LocalRunner, Runner, make_batches
from .settings import canonical_settings, device_default_dtype
from .store import Store, check_settings


@dataclass
class SweepSpec:
    """Everything that defines a sweep; ``settings()`` is what the RUN remembers and checks."""

    model: str
    concepts: ConceptSet
    layers: list[int]
    seeds: list[int]
    preset: str | None = None  # None: paper for a real checkpoint, fast for a toy model (presets.choose_preset)
    steps: int | None = None
    dtype: str | None = None
    controls: bool = True
    controls_per_category: int | None = None  # None: the RUN's own number, else DEFAULT_CONTROLS_PER_CATEGORY
    arms: list[str] = field(default_factory=list)  # ablation arms (plan.ARMS), e.g. weighting-mean
    options: dict[str, Any] = field(default_factory=dict)  # method overrides: lr, tau, weighting, baseline...
    # the dtype the model gets without --dtype where this sweep runs (set by run_sweep; not a setting):
    # a --dtype equal to it is stored and compared as no --dtype (settings.device_default_dtype)
    default_dtype: str | None = None

    @property
    def resolved_preset(self) -> tuple[str, str]:
        """(preset, the rule that chose it): the preset as given, else the default for this model."""
        from ..synthesis.presets import choose_preset

        return choose_preset(self.preset, self.model)

    def settings(self) -> dict[str, Any]:
        """Canonical: values that only repeat the preset's own are dropped (see settings.py). The preset
        is stored as resolved, so `--preset paper` and no flag on a real checkpoint are the same sweep."""
        return canonical_settings({
            "model": self.model, "preset": self.resolved_preset[0], "steps": self.steps, "dtype": self.dtype,
            "options": {k: v for k, v in sorted(self.options.items()) if v is not None},
            "concept_set": self.concepts.name, "concepts_fingerprint": self.concepts.fingerprint(),
            "controls": self.controls, "controls_per_category": self.controls_per_category if self.controls else 0,
            "layers": sorted(set(self.layers)), "seeds": sorted(set(self.seeds)), "arms": sorted(set(self.arms)),
        }, self.default_dtype)


@dataclass
class SweepOutcome:
    total: int
    already_done: int
    ran: int
    seconds: float
    failed: int = 0  # jobs a runner gave up on (Ray: after its retries); pending again next time


def resolve_spec(spec: SweepSpec, out: str | Path) -> SweepSpec:
    """``spec`` with ``controls_per_category`` decided: as given, else what the RUN at ``out`` was made
    with (so a RUN from before the default became 4 resumes with the same command), else the default."""
    import dataclasses

    from .plan import DEFAULT_CONTROLS_PER_CATEGORY

    if spec.controls_per_category is not None:
        return spec
    stored = Store.peek_settings(out) or {}
    n = stored.get("controls_per_category") if stored.get("controls") else None
    return dataclasses.replace(spec, controls_per_category=int(n) if n else DEFAULT_CONTROLS_PER_CATEGORY)


def check_out_folder(out: str | Path) -> Path:
    """Refuse an --out we could not write to, without creating anything (the RUN appears only after the preflight)."""
    import os

    path = Path(out)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"--out {str(out)!r}: {str(probe)!r} is a file, not a folder; choose a folder for the RUN")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to --out {str(out)!r} ({str(probe)!r} is not writable); choose a folder you can write to")
    return path


def planned_settings(spec: SweepSpec, out: str | Path, extend: bool = False) -> dict[str, Any]:
    """The settings the RUN will hold after this sweep, checked against an existing RUN, writing nothing."""
    settings = spec.settings()
    stored = Store.peek_settings(out)
    if stored is None:
        refuse_unaccounted_images(Path(out))
    return settings if stored is None else check_settings(stored, settings, extend, Path(out), spec.default_dtype)


def refuse_unaccounted_images(run_dir: Path) -> None:
    """A folder with no sweep settings (no, an empty or a damaged ``sweep.sqlite``) must not hold images.

    Such a folder would be taken for a new RUN, and a sweep with other settings would overwrite the
    images there with different ones: refuse instead, writing nothing."""
    from .store import DB_NAME

    images = run_dir / "images"
    if not images.is_dir():
        return
    found = [p for p in images.rglob("*") if p.is_file() and p.suffix in (".png", ".json")]
    if found:
        db = run_dir / DB_NAME
        state = ("has no " + DB_NAME if not db.exists() else f"{DB_NAME} is empty" if db.stat().st_size == 0
                 else f"{DB_NAME} holds no sweep settings")
        raise UserError(f"--out {str(run_dir)!r} holds {len(found)} image file(s) (e.g. {str(found[0].relative_to(run_dir))!r}) "
                        f"that its database cannot account for ({state}); they are never overwritten: restore "
                        f"{DB_NAME} from a copy, or use a new --out folder")


def open_run(spec: SweepSpec, out: str | Path, extend: bool = False) -> tuple[Store, list[Job]]:
    """Create or reopen RUN for ``spec``; returns the store and the full job plan (all stored layers/seeds)."""
    run_dir = Path(out)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write to --out {str(out)!r} ({err.strerror or err}); choose a folder you can write to") from None
    store = Store.create_or_open(run_dir, spec.settings(), extend=extend, default_dtype=spec.default_dtype)
    if store.get_meta("concepts") is None:
        store.set_meta("concepts", {"name": spec.concepts.name, "concepts": spec.concepts.to_json()})
    if store.get_meta("preset_rule") is None:  # which rule chose the preset the RUN's images were made with
        store.set_meta("preset_rule", spec.resolved_preset[1])
    store.set_meta("versions", versions())
    settings = store.get_meta("settings")
    jobs = plan_jobs(spec.concepts, settings["layers"], settings["seeds"], spec.controls, spec.controls_per_category,
                     settings.get("arms", []))
    return store, jobs


def broken_images(store: Store) -> list[dict[str, Any]]:
    """Recorded results whose image is missing or no longer matches its recorded sha256, or whose JSON
    (trajectory, config, versions: only the job itself can make it again) is gone."""
    from .store import image_problem

    bad = []
    for row in store.results():
        if image_problem(store.run_dir, row) is not None or not (store.run_dir / row["image_path"]).with_suffix(".json").is_file():
            bad.append(row)
    return bad


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    device: str | None = None,
    batch_size: int | None = None,
    resources: dict[str, Any] | None = None,
    extend: bool = False,
    progress: bool = True,
    runner: Runner | None = None,
    execute: Callable[[Sequence[Job]], Sequence[Any]] | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run every pending job of the sweep; safe to call again after any interruption.

    ``execute`` defaults to the real engine (the model is loaded once, only if something is pending);
    tests pass a fake one. ``runner`` defaults to :class:`LocalRunner`. ``batch_size`` caps the jobs
    per engine call; by default the memory planner picks them (``resources``: ``max_memory``,
    ``checkpoint_vision``), and 8 for a fake ``execute``.
    """
    from ..synthesis.loop import check_seeds

    from .plan import shuffled_shortfall

    log = log or (lambda msg: print(msg, file=sys.stderr))
    check_seeds(spec.seeds)
    if spec.default_dtype is None:  # `--dtype float32` on CPU is the default: compare it as resolved
        spec = dataclasses.replace(spec, default_dtype=device_default_dtype(device, runner))
    run_dir = check_out_folder(out)
    spec = resolve_spec(spec, run_dir)
    settings = planned_settings(spec, run_dir, extend)  # refuses other settings; writes nothing
    jobs = plan_jobs(spec.concepts, settings["layers"], settings["seeds"], spec.controls, spec.controls_per_category,
                     settings.get("arms", []))
    existed = Store.peek_settings(run_dir) is not None
    lock = _exclusive(run_dir) if existed else None
    store: Store | None = None
    try:
        done: set[str] = set()
        if existed:
            store = Store.open_existing(run_dir)
            clean_stale_temp_files(run_dir)
            bad = broken_images(store)
            if bad:
                store.forget_results(r["key"] for r in bad)
                log(f"layerdream sweep: {len(bad)} recorded image(s) missing, changed or without their JSON "
                    f"(e.g. {bad[0]['image_path']}); they are made again")
            done = store.done_keys()
        pending = [j for j in jobs if j.key not in done]
        already = len(jobs) - len(pending)
        if not pending:
            if store is not None and settings != store.get_meta("settings"):
                store.close()
                store, _ = open_run(spec, run_dir, extend)
            log(f"layerdream sweep: all {len(jobs)} jobs in {run_dir} are done; nothing to run")
            return SweepOutcome(len(jobs), already, 0, 0.0)
        if hasattr(runner, "preflight"):  # Ray: cluster reached, workers' shape accepted, before the RUN is written
            runner.preflight(len(pending))  # type: ignore[union-attr]
        if execute is None:
            import layerdream as ld

            vlm = ld.load(spec.model, device=device, dtype=spec.dtype)
            preset, rule = spec.resolved_preset
            execute = EngineExecute(vlm, preset, spec.steps, spec.options, resources, preset_rule=rule)
            execute.preflight([c.name for c in spec.concepts.concepts], sorted({j.layer for j in pending}))
            batch_size = execute.planned_batch(pending, batch_size)
        schedule = None
        if callable(getattr(execute, "schedule", None)):  # the real engine: lr/tau per layer, checked on resume
            schedule = execute.schedule(sorted({j.layer for j in jobs}))
            if store is not None:
                schedule = check_schedule(store.get_meta("schedule") or {}, schedule, run_dir)
        check_space(run_dir, pending, execute)
        # Only now, with every concept and layer accepted, is the RUN created or its settings updated.
        if store is not None:
            store.close()
        store, jobs = open_run(spec, run_dir, extend)
        if schedule is not None:
            store.set_meta("schedule", schedule)
        if lock is None:
            lock = _exclusive(run_dir)
        short = shuffled_shortfall(spec.concepts, spec.controls_per_category) if spec.controls else {}
        if short:
            cat, got = min(short.items(), key=lambda kv: kv[1])
            log(f"layerdream sweep: --controls-per-category {spec.controls_per_category}: each shuffled control needs a "
                f"donor concept of its own, so {len(short)} categor{'y gets' if len(short) == 1 else 'ies get'} fewer "
                f"shuffled controls per layer and seed (e.g. {cat!r}: {got}); random controls: {spec.controls_per_category}")
        preset, rule = spec.resolved_preset
        log(f"layerdream sweep: {len(pending)} of {len(jobs)} jobs to run ({already} already done) in {run_dir}; "
            f"preset {preset} ({rule})")
        runner = runner or LocalRunner(progress=progress, total=len(jobs), initial=already)
        if getattr(runner, "total", 0) is None:  # a runner built before the plan (RayRunner): size its bar
            runner.total, runner.initial = len(jobs), already  # type: ignore[attr-defined]
        if getattr(runner, "dtype", 0) is None:  # and its workers load the model in the RUN's dtype
            runner.dtype = spec.dtype  # type: ignore[attr-defined]
        persist = Persist(store)
        started = time.perf_counter()
        runner.run(make_batches(pending, batch_size or 8), execute, persist)
        failures = list(getattr(runner, "failures", ()))
        if failures or store.get_meta("failures"):  # this run's failures replace the last run's
            store.set_meta("failures", [{"keys": list(f.keys), "reason": f.reason} for f in failures])
        return SweepOutcome(len(jobs), already, persist.written, time.perf_counter() - started,
                            failed=sum(len(f.keys) for f in failures))
    finally:
        if store is not None:
            store.close()
        if lock is not None:
            lock.close()
        if hasattr(runner, "release"):  # a Ray started by the preflight of a sweep that stopped before running
            runner.release()  # type: ignore[union-attr]


ROW_BYTES = 512  # a results row in sweep.sqlite
WAL_PAGE = 4096  # each committed row appends at least one page to the WAL, up to SQLite's checkpoint at 1000 pages


def check_space(run_dir: Path, pending: Sequence[Job], execute: Any) -> None:
    """Before any compute: refuse a sweep whose pending images cannot fit on RUN's file system.

    The need is a lower bound (``io.image_bytes_estimate`` per image, at the engine's image size, its
    row, and the WAL pages its commit appends; measured on a toy sweep: 5.2 KiB PNG + 3.4 KiB JSON +
    ~10 KiB of WAL per image against 3 + 1 + 4.5 KiB counted), so a refusal is never wrong; a disk that fills up anyway ends in one line too, with every
    finished image kept (the row of an image is committed only after its PNG and JSON are in place)."""
    from ..io import check_free_space, image_bytes_estimate

    size = getattr(getattr(execute, "vlm", None), "image_size", None)
    if isinstance(size, int) and size > 0 and pending:
        need = len(pending) * (image_bytes_estimate(size) + ROW_BYTES) + min(len(pending), 1000) * WAL_PAGE
        check_free_space(run_dir, need, f"the {len(pending)} pending images of this sweep (and their database rows)")


def _exclusive(run_dir: Path):
    """Hold an OS lock on RUN/.sweep.lock for the whole sweep; the kernel drops it if we are killed.

    Two sweeps on one RUN would make the same images twice and overwrite each other's files, so the
    second is refused. (Judging and reporting do not take the lock: they only read images.)
    """
    import fcntl
    import os

    fh = open(run_dir / ".sweep.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise UserError(f"another `layerdream sweep` (pid {holder}) is running on {str(run_dir)!r}; wait for it or stop it") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh
