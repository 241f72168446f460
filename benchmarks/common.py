"""What every benchmark shares: the machine record, interleaved timing, markdown tables.

Why interleaved: on a shared machine the load drifts over minutes. Timing way A for a minute and then
way B for a minute puts the drift into the ratio; alternating A, B, A, B, ... exposes both ways to
the same load, which is what makes a ratio from one run trustworthy. The suite's tables quote the
best of the rounds (other processes only ever add time, so the minimum is the least disturbed
sample); the medians and every sample go to the JSON.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from typing import Callable, Mapping, Sequence

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU model, cores, torch threads, load, memory, and the GPU if there is one."""
    info: dict = {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
        "python": platform.python_version(), "gpu": None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    try:
        with open("/proc/meminfo") as fh:
            total_kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(total_kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    return info


def versions() -> dict:
    from layerdream.io import versions as package_versions

    return package_versions() | {"torch_build": torch.__version__}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def sync() -> None:
    """Wait for queued GPU work, so a wall-clock interval covers the work it launched."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object]) -> float:
    sync()
    started = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - started


def interleaved(ways: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each way, ``repeats`` times, alternating the ways inside every round."""
    return interleaved_clocks(ways, repeats, warmup)[0]


def interleaved_clocks(ways: Mapping[str, Callable[[], object]], repeats: int,
                       warmup: int = 1) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall seconds, CPU seconds of this process) of each way, ``repeats`` times, interleaved.

    Why both: on a shared, oversubscribed CPU (load 5-14 on 2 cores) a single-threaded step spends a
    varying part of its wall time waiting for a core; its CPU time counts only the work (neighbours'
    cache pressure still shows), so CPU-time ratios scatter far less. On a GPU the CPU time means
    little (the host waits); read the wall clock there.
    """
    for _ in range(warmup):
        for fn in ways.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, fn in ways.items():
            sync()
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            sync()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def best(values: Sequence[float]) -> float:
    return float(min(values))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are formatted by the caller."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"
