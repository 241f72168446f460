"""Job runners: the seam between *what* a sweep does and *where* it runs.

A runner takes the pending jobs, already grouped into batches that the engine can do in one forward
(same layer and seed), calls ``execute(batch) -> results`` and hands every result to
``on_result(result)`` as soon as it exists. ``on_result`` is where the result is persisted (image
written atomically, row committed), and it runs in the driver process, so the store has exactly one
writer whatever the backend.

:class:`LocalRunner` runs batches in order in this process, with the model loaded once.
A distributed backend only has to implement ``run`` with the same contract: :class:`RayRunner`
(``ray_runner.py``) puts the model-loading ``execute`` in an actor per GPU (each loads the model once),
submits batches, and calls ``on_result`` in the driver as futures complete (``ray.wait``).
Resumability does not change: the store decides which jobs are pending, and an interrupted batch is
simply pending again next time.

A runner that gives up on some jobs (after its backend's own retries) and still finishes lists them
in ``failures`` (:class:`JobFailure`: job keys and the reason); they have no row, so the next run of
the sweep retries them. :class:`LocalRunner` never gives up quietly: any error ends the sweep.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from .plan import Job

Batch = Sequence[Job]
Execute = Callable[[Batch], Sequence[Any]]
OnResult = Callable[[Any], None]


@dataclass(frozen=True)
class JobFailure:
    """Jobs a runner could not make, with the one-line reason; they stay pending for the next run."""

    keys: tuple[str, ...]
    reason: str


class Runner(Protocol):
    """Anything that can run batches of jobs and report each result back to the driver."""

    def run(self, batches: Sequence[Batch], execute: Execute, on_result: OnResult) -> int:
        """Run every batch; returns the number of results delivered."""
        ...


class LocalRunner:
    """In-process, in-order; a tqdm bar over the whole sweep (jobs, with ETA)."""

    def __init__(self, progress: bool = True, total: int | None = None, initial: int = 0):
        self.progress = progress
        self.total = total
        self.initial = initial

    def run(self, batches: Sequence[Batch], execute: Execute, on_result: OnResult) -> int:
        from ..progress import bar as progress_bar

        pending = sum(len(b) for b in batches)
        total = self.total if self.total is not None else pending + self.initial
        bar = progress_bar(total, "sweep", unit="img", enabled=self.progress, initial=self.initial)
        delivered = 0
        try:
            for batch in batches:
                started = time.perf_counter()
                results = execute(batch)
                for result in results:
                    on_result(result)
                    delivered += 1
                bar.update(len(batch))
                bar.set_postfix_str(f"L{batch[0].layer} s{batch[0].seed} {time.perf_counter() - started:.1f}s/batch")
        finally:
            bar.close()
        return delivered


def make_batches(jobs: Sequence[Job], batch_size: int) -> list[list[Job]]:
    """Group jobs by (layer, seed) in plan order and cut into batches of at most ``batch_size``."""
    groups: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.layer, job.seed), []).append(job)
    size = max(1, int(batch_size))
    return [group[i:i + size] for group in groups.values() for i in range(0, len(group), size)]
