"""What the Ray driver keeps about the work: the queue of pending jobs, cut to each worker's own batch
plan, and each worker's throughput and busy time (for the progress bar and the final summary)."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from .plan import Job
from .runner import Batch


class WorkQueue:
    """Pending jobs, handed out in plan order, each worker's batch cut to that worker's plan.

    Jobs of one (layer, seed) share a forward; a worker with plan B takes the next B jobs of the
    current group. With equal plans this cuts exactly as :func:`make_batches` does (and so as a local
    sweep does); without plans the driver's batches go out as they are.
    """

    def __init__(self, batches: Sequence[Batch], plans: Sequence[int | None]):
        self.plans = list(plans)
        if all(p for p in self.plans):
            groups: dict[tuple[int, int], list[Job]] = {}
            for job in (j for b in batches for j in b):
                groups.setdefault((job.layer, job.seed), []).append(job)
            self.items: deque[list[Job]] = deque(groups.values())
            self.cut = True
        else:
            self.items = deque(list(b) for b in batches)
            self.cut = False

    def __len__(self) -> int:
        return sum(len(item) for item in self.items)

    def take(self, worker: int) -> list[Job]:
        if not self.cut:
            return self.items.popleft()
        head = self.items[0]
        size = max(1, int(self.plans[worker] or 1))
        batch, rest = head[:size], head[size:]
        if rest:
            self.items[0] = rest
        else:
            self.items.popleft()
        return batch

    def drain(self) -> list[Job]:
        jobs = [j for item in self.items for j in item]
        self.items.clear()
        return jobs


@dataclass
class WorkerStats:
    """What the driver knows about one actor: its throughput and how busy it was."""

    index: int
    images: int = 0
    busy: float = 0.0  # seconds inside execute, measured in the worker
    pids: list[int] = field(default_factory=list)
    host: str = "?"
    gpus: list[str] = field(default_factory=list)
    alive: bool = True
    reconstructed: bool = False  # Ray says this actor was restarted at least once

    def note(self, identity: dict[str, Any]) -> None:
        self.host = identity.get("host", self.host)
        self.gpus = identity.get("gpus", self.gpus)
        self.reconstructed = self.reconstructed or bool(identity.get("restarted"))
        pid = identity.get("pid")
        if pid is not None and pid not in self.pids:
            self.pids.append(pid)

    @property
    def restarts(self) -> int:
        """Restarts seen: new pids, or at least one when Ray says so (a worker killed during its first
        batch or its model load was restarted before the driver knew its first pid)."""
        return max(len(self.pids) - 1, 1 if self.reconstructed else 0)

    def label(self) -> str:
        where = f"gpu{','.join(self.gpus)}" if self.gpus else f"pid {self.pids[-1] if self.pids else '?'}"
        restarts = f", restarted {self.restarts}x" if self.restarts else ""
        gone = ", died (restarts used up)" if not self.alive else ""
        return f"w{self.index} ({self.host} {where}{restarts}{gone})"
