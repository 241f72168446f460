"""How long a synthesis will take, measured on its own first micro-batch, said when it is long.

The progress bar moves every ``check_every`` steps, so ``--copies 100000`` showed "0 of 80 steps" for
nine minutes and never said why. The memory model can tell in advance what cannot *fit*
(``memory.plan`` refuses it); what merely takes long is measured instead: the first micro-batch of the
first step is timed, multiplied out over the micro-batches, steps and the targets still to come, and
when that is more than :data:`SLOW` seconds a note says how long, at what rate, and which flags shorten
it. It is an estimate from one measurement (the first call also pays one-off start-up costs, so it
errs long), said once per synthesize call.
"""
from __future__ import annotations

import logging
import time

import torch

SLOW = 600.0  # seconds: below this the progress bar is enough


def _hms(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


class Estimate:
    """Times one micro-batch and notes, at most once, when the whole work would take long."""

    def __init__(self, total_copy_steps: int, copies: int, steps: int):
        self.total = total_copy_steps  # target x copy x step forwards+backwards of the whole synthesize call
        self.copies, self.steps = copies, steps
        self.said = False
        self.started: float | None = None

    def start(self, device: torch.device) -> None:
        if self.said:
            return
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.started = time.perf_counter()

    def stop(self, device: torch.device, copy_steps: int) -> float | None:
        """After a micro-batch of ``copy_steps`` (targets x copies): the estimate in seconds, noted if long."""
        if self.said or self.started is None:
            return None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        per = (time.perf_counter() - self.started) / max(1, copy_steps)
        self.said = True
        seconds = per * self.total
        if seconds > SLOW:
            logging.getLogger("layerdream").warning(
                f"this synthesis will take about {_hms(seconds)} ({self.total:,} copy-steps at {per * 1e3:.1f} ms each, "
                f"measured: {self.steps} steps x {self.copies} copies per image); lower --copies or --steps to go faster, "
                "Ctrl-C keeps the images already finished")
        return seconds


__all__ = ["Estimate", "SLOW"]
