"""What runs inside a Ray actor of a sweep: the recipe that builds its engine, and the actor body.

Each actor builds its :class:`~layerdream.sweep.execute.EngineExecute` once, in its constructor (from an
:class:`EngineRecipe`: the model loaded straight onto the device Ray gave it), and then runs batch after
batch; the driver (``ray_runner.py``) hands out the batches and persists what comes back. ``_parked``
is the driver's side of the same GPU: its own copy of the model waits in host memory meanwhile.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import UserError
from .plan import Job
from .runner import Batch, Execute


@dataclass
class EngineRecipe:
    """How a worker builds its own engine: the model loaded once, on the device Ray gave the worker.

    Sent to the actor instead of the driver's loaded model (a 4B model is 8 GiB to ship, and the worker
    should load it straight onto its own GPU). ``gpu_fraction`` < 1 shares one card between actors:
    each then plans its batches within its share of the card, not 90 % of what is free at that moment
    (which a neighbour could be about to take).
    """

    model: str  # what the worker loads: a hub id or toy name as given, a local path made absolute
    device: str
    dtype: str | None
    preset: str
    steps: int | None
    options: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    gpu_fraction: float = 1.0
    name: str | None = None  # the --model as the user typed it: results record it, as in a local sweep

    def __call__(self) -> Execute:
        import layerdream as ld

        from .execute import EngineExecute

        vlm = ld.load(self.model, device=self.device, dtype=self.dtype)
        if self.name is not None:
            vlm.name = self.name
        resources = dict(self.resources)
        if vlm.device.type == "cuda" and self.gpu_fraction < 1 and resources.get("max_memory") is None:
            resources["max_memory"] = share_budget(vlm.device, self.gpu_fraction)
        return EngineExecute(vlm, self.preset, self.steps, self.options, resources)


def share_budget(device: Any, fraction: float) -> int:
    """Activation budget of an actor that owns ``fraction`` of a card: 90 % of its share, minus what it
    already holds (the weights); a share too small for the model is one line."""
    import torch

    from ..synthesis.memory import GiB

    total = torch.cuda.get_device_properties(device).total_memory
    held = torch.cuda.memory_allocated(device)
    budget = int(0.9 * fraction * total) - held
    if budget <= 0:
        raise UserError(f"--gpus-per-worker {fraction:g} gives each worker {fraction * total / GiB:.1f} GiB, less than "
                        f"the model's {held / GiB:.1f} GiB; use a larger fraction (fewer workers per GPU)")
    return budget


@dataclass
class Ready:
    """A recipe for an ``execute`` that is already built and picklable (tests, custom engines)."""

    execute: Execute

    def __call__(self) -> Execute:
        return self.execute


class Worker:
    """The actor body: build the engine once, then run batch after batch.

    A failure to build (model missing, CUDA absent) is kept and raised by every call rather than in
    the constructor: Ray would restart a constructor that raises, loading and failing again, and the
    driver would see only "actor died" instead of the one-line reason.
    """

    def __init__(self, recipe: Callable[[], Execute]):
        self.error: BaseException | None = None
        self.execute: Execute | None = None
        try:
            self.execute = recipe()
        except Exception as err:  # noqa: BLE001 - handed to the driver with its type
            self.error = err

    def identity(self) -> dict[str, Any]:
        """Who ran a batch: the pid changes when Ray restarts the worker."""
        ids: list = []
        restarted = False
        try:
            import ray

            ids = [str(g) for g in ray.get_gpu_ids()]
            # Ray's own word: a worker killed before the driver ever saw its first pid is restarted too
            restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        except Exception:  # noqa: BLE001 - identity is informative only
            pass
        return {"pid": os.getpid(), "host": socket.gethostname(), "gpus": ids, "restarted": restarted}

    def ready(self) -> dict[str, Any]:
        """Returns once the engine is built; raises what stopped it from being built."""
        if self.error is not None:
            raise self.error
        return self.identity()

    def planned_batch(self, jobs: Sequence[Job], cap: int | None) -> int | None:
        if self.error is not None:
            raise self.error
        plan = getattr(self.execute, "planned_batch", None)
        return None if plan is None else int(plan(jobs, cap))

    def run(self, batch: Batch) -> tuple[list, float, dict[str, Any]]:
        if self.error is not None:
            raise self.error
        assert self.execute is not None
        started = time.perf_counter()
        results = list(self.execute(batch))
        return results, time.perf_counter() - started, self.identity()


# -- on the driver, while the actors run: the GPU is theirs -------------------------------------------

class _parked:
    """While the workers run, the driver's copy of the model (it served the preflight) waits in host
    memory, so the worker that Ray puts on the driver's GPU gets the whole card; it goes back after."""

    def __init__(self, execute: Execute):
        self.model = getattr(getattr(execute, "vlm", None), "model", None)
        self.device = None

    def __enter__(self) -> None:
        import torch

        if self.model is None:
            return
        device = next(self.model.parameters()).device
        if device.type != "cuda":
            return
        try:
            self.model.to("cpu")
        except RuntimeError:  # not enough host memory: leave it where it is
            return
        self.device = device
        torch.cuda.empty_cache()

    def __exit__(self, *exc: Any) -> None:
        if self.device is not None:
            self.model.to(self.device)


__all__ = ["EngineRecipe", "Ready", "Worker", "share_budget"]
