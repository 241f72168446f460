"""Sweeps on Ray: one actor per GPU (or per few CPUs) computes, the driver persists.

Why Ray and not a scheduler of our own: placement on GPUs, fractional GPUs, restarting a dead worker
process on whatever node has room, and the same code on one box, a Ray cluster, SLURM (Ray's recipe)
or Kubernetes (KubeRay) are Ray's job, done and tested there. What layerdream adds is small and lives
here: each actor builds its :class:`~layerdream.sweep.execute.EngineExecute` in its constructor, so the
model is loaded once per actor and reused for every batch; the driver keeps the only connection to the
RUN's SQLite store and persists each result the moment ``ray.wait`` hands it back. Every guarantee of
a local sweep (resume, no duplicates, atomic images, settings refusal, the single-writer lock) holds
because nothing about persistence changed: only where ``execute`` runs.

Faults are Ray's: an actor whose process dies is restarted (``max_restarts``) and the batch it was
running is retried on it (``max_task_retries``), wherever Ray places it. A batch that still fails is
recorded as failed with its reason (:class:`~layerdream.sweep.runner.JobFailure`); the sweep goes on,
says how many failed at the end, and the next run of the same command retries them (they have no row).
An error the user must fix (:class:`~layerdream.errors.UserError`, e.g. a memory budget too small for
one copy) stops the sweep instead: every batch would fail the same way.

Each actor is fed one batch at a time, so a batch that fails is always the one its worker was running,
and a slow worker never holds work that a fast one could take. Ray is an optional dependency
(``pip install 'layerdream[ray]'``); this module imports it only inside :meth:`RayRunner.run`.

This module is the driver (:class:`RayRunner`); the actor's side is ``ray_worker.py`` (the engine
recipe and the actor body), the driver's bookkeeping ``work_queue.py`` (pending jobs, worker stats).
"""
from __future__ import annotations

import os
import time
import warnings
from typing import Any, Callable, Sequence

from ..errors import UserError
from .plan import Job
from .ray_connect import check_reachable, sigterm_ends_connect
from .ray_worker import EngineRecipe, Ready, Worker, _parked, share_budget  # noqa: F401  (share_budget: re-exported)
from .runner import Batch, Execute, JobFailure, OnResult
from .work_queue import WorkerStats, WorkQueue

RAY_MISSING = "--ray needs Ray, which is not installed here: pip install 'layerdream[ray]' (or pip install 'ray[client]>=2.9')"
DEFAULT_MAX_RESTARTS = 3  # worker processes Ray may start again after one dies (per actor)
DEFAULT_MAX_TASK_RETRIES = 2  # times a batch whose worker died is run again on the restarted worker
POSTFIX_WORKERS = 8  # per-worker rates shown in the bar; the final line has them all


def import_ray():
    """``ray``, or the one-line error that says how to get it."""
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


# -- the driver ------------------------------------------------------------------------------------------

class RayRunner:
    """:class:`~layerdream.sweep.runner.Runner` on Ray: actors compute, this process persists.

    ``address``: None starts a local Ray instance (or uses the one this process already started),
    ``"auto"`` or ``"ray://host:port"`` or ``"host:port"`` joins a running cluster. ``workers``:
    how many actors (default: as many as the cluster's GPUs, or CPUs, hold; never more than there are
    batches). ``gpus_per_worker`` (fractional allowed, e.g. 0.5 puts two actors on a card) and
    ``cpus_per_worker`` are the Ray resources of each actor; GPUs are used when the cluster has any
    unless ``device="cpu"``. ``batch`` caps concepts per forward as ``--batch`` does; the actors
    re-plan the batch on their own device (the driver's plan is for the driver's device).
    ``dtype`` is the workers' model dtype and ``total``/``initial`` size the progress bar; the sweep
    fills all three in from the RUN when they are left None.
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None, gpus_per_worker: float | None = None,
                 cpus_per_worker: float | None = None, device: str | None = None, dtype: str | None = None,
                 batch: int | None = None, max_restarts: int = DEFAULT_MAX_RESTARTS,
                 max_task_retries: int = DEFAULT_MAX_TASK_RETRIES, progress: bool = True, total: int | None = None,
                 initial: int = 0, log: Callable[[str], None] | None = None, init_kwargs: dict[str, Any] | None = None):
        if workers is not None and workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        if gpus_per_worker is not None and not gpus_per_worker >= 0:
            raise UserError(f"--gpus-per-worker must be 0 (CPU workers) or more (0.5 shares a GPU between 2 workers), "
                            f"got {gpus_per_worker}")
        if cpus_per_worker is not None and not cpus_per_worker > 0:
            raise UserError(f"--cpus-per-worker must be positive, got {cpus_per_worker}")
        if device not in (None, "cpu") and not str(device).startswith("cuda"):
            raise UserError(f"--device {device!r} with --ray: Ray workers run on cpu or cuda (the GPU Ray gives them)")
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.device = device
        self.dtype = dtype
        self.batch = batch
        self.max_restarts = max_restarts
        self.max_task_retries = max_task_retries
        self.progress = progress
        self.total = total
        self.initial = initial
        self.log = log or _stderr
        self.init_kwargs = dict(init_kwargs or {})
        self.failures: list[JobFailure] = []
        self.stats: list[WorkerStats] = []
        self.summary: str = ""
        self.elapsed = 0.0  # seconds from the first batch sent to the last result persisted (models loaded)
        self.delivered = 0
        self._started: bool | None = None  # preflight connected: True if it started the Ray instance

    # -- Runner protocol ---------------------------------------------------------------------------------
    def preflight(self, n_jobs: int) -> None:
        """Reach Ray and check that the workers asked for fit the cluster, before the sweep writes its
        RUN: a refused `--workers 99` or an unreachable cluster leaves no settings behind that would then
        refuse the corrected command. The connection is kept for :meth:`run` (:meth:`release` drops it)."""
        ray = import_ray()
        if self._started is None:
            self._started = self._connect(ray)
        try:
            self._layout(ray, max(1, n_jobs))
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Shut down a Ray this runner started in :meth:`preflight` and has not used (safe to call twice)."""
        if self._started:
            import_ray().shutdown()
        self._started = None

    def run(self, batches: Sequence[Batch], execute: Execute, on_result: OnResult) -> int:
        ray = import_ray()
        self.failures, self.stats, self.summary = [], [], ""
        jobs = [job for batch in batches for job in batch]
        if not jobs:
            return 0
        started_ray = self._connect(ray) if self._started is None else self._started
        self._started = None  # from here on this call owns the connection (and shuts down what it started)
        actors: list = []
        try:
            use_gpu, per_gpu, per_cpu, n = self._layout(ray, len(batches))
            recipe = self._recipe(execute, use_gpu, per_gpu)
            remote = ray.remote(Worker).options(
                num_gpus=per_gpu if use_gpu else 0, num_cpus=per_cpu,
                max_restarts=self.max_restarts, max_task_retries=self.max_task_retries)
            with _parked(execute):
                actors = [remote.remote(recipe) for _ in range(n)]
                self.stats = [WorkerStats(i) for i in range(n)]
                work = WorkQueue(batches, self._plans(ray, actors, jobs, execute))
                return self._drive(ray, actors, work, on_result, use_gpu, per_gpu, per_cpu)
        finally:
            for actor in actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
            if started_ray:
                ray.shutdown()

    # -- set-up ------------------------------------------------------------------------------------------
    def _connect(self, ray) -> bool:
        """Join or start Ray; True when this runner started it (and so shuts it down)."""
        import logging

        if ray.is_initialized():
            return False
        kwargs = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        kwargs.update(self.init_kwargs)
        address = self.address or "local"
        check_reachable(address)  # nothing listening (or a stale --ray auto file): one line now, not 600 s
        try:
            with warnings.catch_warnings(), sigterm_ends_connect():  # Ray Client warns before it raises;
                warnings.simplefilter("ignore")  # the one line below says it
                ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError, OSError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            if address == "local":
                raise UserError(f"cannot start a local Ray instance ({first}); check `ray start --head` works here") from None
            raise UserError(f"cannot reach the Ray cluster at {address!r} ({first}); start one with `ray start --head` "
                            "or give no address for a local one") from None
        return True

    def _layout(self, ray, n_batches: int) -> tuple[bool, float, float, int]:
        """(GPUs?, GPUs per actor, CPUs per actor, actors) from what the cluster has; refuses what it cannot hold."""
        have = ray.cluster_resources()
        gpus, cpus = float(have.get("GPU", 0)), float(have.get("CPU", 0))
        if self.gpus_per_worker is not None:
            use_gpu = self.gpus_per_worker > 0
        else:
            use_gpu = gpus >= 1 and self.device != "cpu"
        if use_gpu and self.device == "cpu":
            raise UserError("--device cpu with --gpus-per-worker: choose one (workers on GPUs, or on CPUs)")
        per_gpu = float(self.gpus_per_worker or 1.0) if use_gpu else 0.0
        per_cpu = float(self.cpus_per_worker or 1.0)
        if use_gpu and gpus < per_gpu:
            raise UserError(f"the Ray cluster has {gpus:g} GPUs, a worker asks for {per_gpu:g}; "
                            "use --device cpu or join a cluster with GPUs")
        capacity = int(cpus / per_cpu + 1e-9)
        if use_gpu:
            capacity = min(capacity, int(gpus / per_gpu + 1e-9))
        if capacity < 1:
            raise UserError(f"the Ray cluster has {cpus:g} CPUs, a worker asks for {per_cpu:g}; lower --cpus-per-worker")
        if self.workers is not None and self.workers > capacity:
            kind = f"{per_gpu:g} GPU" if use_gpu else f"{per_cpu:g} CPU"
            raise UserError(f"--workers {self.workers} x {kind} each does not fit the Ray cluster "
                            f"({gpus:g} GPUs, {cpus:g} CPUs): at most {capacity}")
        return use_gpu, per_gpu, per_cpu, max(1, min(self.workers or capacity, n_batches))

    def _recipe(self, execute: Execute, use_gpu: bool, per_gpu: float) -> Callable[[], Execute]:
        """What each actor builds: the real engine from its settings, anything else as it is."""
        from .execute import EngineExecute

        if not isinstance(execute, EngineExecute):
            return Ready(execute)
        vlm = execute.vlm
        worker_device = "cuda" if use_gpu else "cpu"
        dtype = self.dtype  # the RUN's --dtype (the sweep sets it); None: each device's default, as locally
        if dtype is None and vlm.device.type == worker_device:  # same kind of device: exactly the driver's dtype
            dtype = str(vlm.dtype).removeprefix("torch.")
        source = os.path.abspath(vlm.name) if os.path.exists(vlm.name) else vlm.name  # workers run in another cwd
        return EngineRecipe(model=source, name=vlm.name, device=worker_device, dtype=dtype, preset=execute.preset,
                            steps=execute.steps, options=dict(execute.options), resources=dict(execute.resources),
                            gpu_fraction=per_gpu if use_gpu else 1.0)

    def _plans(self, ray, actors: list, jobs: list[Job], execute: Execute) -> list[int | None]:
        """Concepts per engine call for each worker, planned by the worker on its own device (a
        mixed cluster gets batches that fit each card); None for an ``execute`` without a planner.

        Waiting for the plans also waits for every worker's model to load, so a model a worker cannot
        load is one line here, before any batch is sent."""
        if not hasattr(execute, "planned_batch"):
            plans: list[int | None] = [None] * len(actors)
            _get(ray, [a.ready.remote() for a in actors])  # every worker up before the clock starts
        else:
            if self.progress:
                self.log(f"layerdream sweep: {len(actors)} Ray worker(s) loading the model (once each)")
            plans = _get(ray, [a.planned_batch.remote(jobs, self.batch) for a in actors])
        for stats, identity in zip(self.stats, _get(ray, [a.identity.remote() for a in actors])):
            stats.note(identity)  # each worker's first pid: a later restart shows as a new one
        return plans

    # -- the loop ----------------------------------------------------------------------------------------
    def _drive(self, ray, actors: list, work: "WorkQueue", on_result: OnResult, use_gpu: bool, per_gpu: float,
               per_cpu: float) -> int:
        from ..progress import bar as progress_bar

        total = self.total if self.total is not None else len(work) + self.initial
        bar = progress_bar(total, "sweep", unit="img", enabled=self.progress, initial=self.initial)
        inflight: dict[Any, tuple[int, Batch]] = {}
        probes: dict[Any, int] = {}  # workers whose batch failed because they died: are they back?
        delivered = 0
        started = time.perf_counter()

        def feed(i: int) -> None:
            if self.stats[i].alive and work:
                batch = work.take(i)
                inflight[actors[i].run.remote(batch)] = (i, batch)

        try:
            for i in range(len(actors)):
                feed(i)
            while inflight or probes:
                ready, _ = ray.wait(list(inflight) + list(probes), num_returns=1)
                for ref in ready:
                    if ref in probes:
                        i = probes.pop(ref)
                        try:
                            self.stats[i].note(ray.get(ref))  # back after a restart: its new pid
                        except Exception:  # noqa: BLE001 - restarts used up: this worker is gone for good
                            self.stats[i].alive = False
                        feed(i)
                        continue
                    i, batch = inflight.pop(ref)
                    try:
                        results, seconds, identity = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - sorted by _failed
                        if self._failed(ray, err, i, batch):
                            probes[actors[i].identity.remote()] = i  # not fed again until it answers
                        else:
                            feed(i)
                        bar.update(len(batch))
                        continue
                    feed(i)  # the worker starts its next batch while this one is persisted
                    stats = self.stats[i]
                    stats.note(identity)
                    stats.busy += seconds
                    stats.images += len(results)
                    for item in results:
                        on_result(item)
                        delivered += 1
                    bar.update(len(batch))
                    bar.set_postfix_str(self._rates(time.perf_counter() - started), refresh=False)
                if work and not inflight and not probes:  # every worker is gone and work is left
                    rest = work.drain()
                    self.failures.append(JobFailure(tuple(j.key for j in rest), "no Ray worker left alive"))
                    bar.update(len(rest))
        except KeyboardInterrupt:
            delivered += self._keep_finished(ray, inflight, on_result)
            bar.close()
            self.log(f"layerdream sweep: interrupted; {delivered} image(s) of this run kept, Ray workers stopped")
            raise
        except UserError:  # a batch hit a user error: keep what other workers have already finished
            delivered += self._keep_finished(ray, inflight, on_result)
            bar.close()
            raise
        bar.close()
        self.elapsed, self.delivered = time.perf_counter() - started, delivered
        self.summary = self._summary(delivered, self.elapsed, use_gpu, per_gpu, per_cpu)
        self.log(self.summary)
        return delivered

    def _failed(self, ray, err: BaseException, i: int, batch: Batch) -> bool:
        """Record a failed batch with its reason; True when its worker died (then it is probed, not fed).

        A UserError ends the sweep instead: every other batch would fail the same way."""
        cause = getattr(err, "cause", None)
        if isinstance(err, UserError) or isinstance(cause, UserError):
            raise UserError(str(cause if isinstance(cause, UserError) else err)) from None
        died = isinstance(err, ray.exceptions.RayActorError)
        if died:
            retried = f" (and on {self.max_task_retries} retries on the restarted worker)" if self.max_task_retries else ""
            reason = f"Ray worker w{i} died running it{retried}: {_first_line(err)}"
        else:
            reason = f"{type(cause or err).__name__}: {_first_line(cause or err)}"
        self.failures.append(JobFailure(tuple(j.key for j in batch), reason))
        return died

    def _keep_finished(self, ray, inflight: dict, on_result: OnResult) -> int:
        """On Ctrl-C: persist what workers already finished (results, not just rows, are the user's work)."""
        if not inflight:
            return 0
        done, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=0)
        kept = 0
        for ref in done:
            try:
                results, _, _ = ray.get(ref, timeout=0)
            except Exception:  # noqa: BLE001 - a failed batch has nothing to keep
                continue
            for item in results:
                on_result(item)
                kept += 1
        return kept

    # -- what the user reads -----------------------------------------------------------------------------
    def _rates(self, elapsed: float) -> str:
        shown = self.stats[:POSTFIX_WORKERS]
        rates = " ".join(f"w{s.index} {s.images / elapsed:.2f}/s" for s in shown) if elapsed > 0 else ""
        more = f" +{len(self.stats) - len(shown)} workers" if len(self.stats) > len(shown) else ""
        return rates + more

    def _summary(self, delivered: int, elapsed: float, use_gpu: bool, per_gpu: float, per_cpu: float) -> str:
        each = f"{per_gpu:g} GPU" if use_gpu else f"{per_cpu:g} CPU"
        rate = delivered / elapsed if elapsed > 0 else 0.0
        total_images = sum(s.images for s in self.stats) or 1
        parts = [f"{s.label()} {100 * s.busy / elapsed if elapsed > 0 else 0:.0f}% busy, "
                 f"{100 * s.images / total_images:.0f}% of images" for s in self.stats]
        failed = sum(len(f.keys) for f in self.failures)
        tail = (f"; {failed} job(s) FAILED, e.g. {self.failures[0].reason[:160]!r} (re-run the same command to retry them)"
                if failed else "; 0 failed")
        return (f"layerdream sweep (Ray): {delivered} images in {elapsed:.1f}s = {rate:.2f} images/s on "
                f"{len(self.stats)} worker(s) x {each}; " + "; ".join(parts) + tail)


# -- helpers ---------------------------------------------------------------------------------------------

def _get(ray, refs: list) -> list:
    """``ray.get`` that turns a worker's UserError into ours and any other start-up failure into one line."""
    try:
        return ray.get(refs)
    except Exception as err:  # noqa: BLE001
        cause = getattr(err, "cause", None)
        if isinstance(err, UserError) or isinstance(cause, UserError):
            raise UserError(str(cause if isinstance(cause, UserError) else err)) from None
        raise UserError(f"a Ray worker could not start: {type(cause or err).__name__}: {_first_line(cause or err)}") from None


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return (lines[0] if lines else type(err).__name__)[:300]


def _stderr(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


__all__ = ["RayRunner", "WorkQueue", "EngineRecipe", "Worker", "import_ray", "RAY_MISSING"]
