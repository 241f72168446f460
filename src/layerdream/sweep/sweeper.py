"""``run_sweep``: plan, check the RUN, skip what is done, run the rest, one result at a time.

The order matters for the user: everything that can be refused (unreadable concepts file, a RUN
made with other settings, an unwritable folder) is refused *before* the model loads, in seconds.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..io import ensure_writable_dir, versions
from .conceptsets import ConceptSet
from .execute import EngineExecute, Persist, clean_stale_temp_files
from .plan import Job, plan_jobs
from .runner import LocalRunner, Runner, make_batches
from .store import Store


@dataclass
class SweepSpec:
    """Everything that defines a sweep; ``settings()`` is what the RUN remembers and checks."""

    model: str
    concepts: ConceptSet
    layers: list[int]
    seeds: list[int]
    preset: str = "fast"
    steps: int | None = None
    dtype: str | None = None
    controls: bool = True
    controls_per_category: int = 1
    options: dict[str, Any] = field(default_factory=dict)  # method overrides: lr, tau, weighting, baseline...

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model, "preset": self.preset, "steps": self.steps, "dtype": self.dtype,
            "options": {k: v for k, v in sorted(self.options.items()) if v is not None},
            "concept_set": self.concepts.name, "concepts_fingerprint": self.concepts.fingerprint(),
            "controls": self.controls, "controls_per_category": self.controls_per_category if self.controls else 0,
            "layers": sorted(set(self.layers)), "seeds": sorted(set(self.seeds)),
        }


@dataclass
class SweepOutcome:
    total: int
    already_done: int
    ran: int
    seconds: float


def open_run(spec: SweepSpec, out: str | Path, extend: bool = False) -> tuple[Store, list[Job]]:
    """Create or reopen RUN for ``spec``; returns the store and the full job plan (all stored layers/seeds)."""
    run_dir = ensure_writable_dir(out, "--out")
    store = Store.create_or_open(run_dir, spec.settings(), extend=extend)
    if store.get_meta("concepts") is None:
        store.set_meta("concepts", {"name": spec.concepts.name, "concepts": spec.concepts.to_json()})
    store.set_meta("versions", versions())
    settings = store.get_meta("settings")
    jobs = plan_jobs(spec.concepts, settings["layers"], settings["seeds"], spec.controls, spec.controls_per_category)
    return store, jobs


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    device: str | None = None,
    batch_size: int = 8,
    extend: bool = False,
    progress: bool = True,
    runner: Runner | None = None,
    execute: Callable[[Sequence[Job]], Sequence[Any]] | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run every pending job of the sweep; safe to call again after any interruption.

    ``execute`` defaults to the real engine (the model is loaded once, only if something is pending);
    tests pass a fake one. ``runner`` defaults to :class:`LocalRunner`.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    store, jobs = open_run(spec, out, extend)
    lock = _exclusive(store.run_dir)
    try:
        clean_stale_temp_files(store.run_dir)
        done = store.done_keys()
        pending = [j for j in jobs if j.key not in done]
        already = len(jobs) - len(pending)
        if not pending:
            log(f"layerdream sweep: all {len(jobs)} jobs in {store.run_dir} are done; nothing to run")
            return SweepOutcome(len(jobs), already, 0, 0.0)
        log(f"layerdream sweep: {len(pending)} of {len(jobs)} jobs to run ({already} already done) in {store.run_dir}")
        if execute is None:
            import layerdream as ld

            vlm = ld.load(spec.model, device=device, dtype=spec.dtype)
            execute = EngineExecute(vlm, spec.preset, spec.steps, spec.options)
            execute.preflight([c.name for c in spec.concepts.concepts], sorted({j.layer for j in pending}))
        runner = runner or LocalRunner(progress=progress, total=len(jobs), initial=already)
        persist = Persist(store)
        started = time.perf_counter()
        runner.run(make_batches(pending, batch_size), execute, persist)
        return SweepOutcome(len(jobs), already, persist.written, time.perf_counter() - started)
    finally:
        store.close()
        lock.close()


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
