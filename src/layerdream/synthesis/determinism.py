"""``--deterministic``: the same command gives the same image on a GPU too, at a measured cost.

On CPU nothing needs switching on: the synthesis ops are written so that a seed gives bit-identical
images at any thread count (``param.resize``, ``augment._Crops``), and ``import layerdream`` puts MKL in
its strict reproducibility mode (``MKL_CBWR=AUTO,STRICT``), without which its gemm splits long sums by
thread count (docs/reproducibility.md). On CUDA
the defaults trade reproducibility for speed: cuBLAS may pick split reductions whose order varies
run to run, cuDNN autotunes, and several backward kernels (interpolation, index accumulation,
memory-efficient attention) add with atomics. :func:`deterministic` switches all of them to
deterministic algorithms, and any op that has none raises instead of silently varying.

cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when PyTorch first sizes its workspace, i.e. at the first
cuBLAS call: :func:`prepare` must run before the model is loaded (the CLI calls it as soon as the flag
is parsed); :func:`deterministic` calls it too and warns when CUDA was already in use.
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Iterator

import torch

from ..errors import UserError

CUBLAS_VARIABLE = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_VALUE = ":4096:8"  # 8 workspaces of 4 MiB; ":16:8" is the other value cuBLAS documents (less memory, slower)
_DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")


def prepare() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` unless the user chose a deterministic value already.

    A value cuBLAS does not document as deterministic is refused (one line) rather than overridden:
    the user set it on purpose, and PyTorch would fail later, mid-run, with a traceback.
    """
    current = os.environ.get(CUBLAS_VARIABLE)
    if current is None:
        os.environ[CUBLAS_VARIABLE] = CUBLAS_VALUE
    elif current not in _DETERMINISTIC_CUBLAS:
        raise UserError(f"--deterministic needs {CUBLAS_VARIABLE}={CUBLAS_VALUE} (or :16:8), but it is set to "
                        f"{current!r}; unset it or set one of those")


@contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Run the body with deterministic algorithms (CPU and CUDA); restore the previous settings after.

    Sets ``torch.use_deterministic_algorithms(True)`` (strict: an op without a deterministic
    implementation raises), ``cudnn.deterministic = True`` and ``cudnn.benchmark = False``, and
    the cuBLAS workspace (see :func:`prepare`). ``enabled=False`` changes nothing, so a caller can
    write ``with deterministic(args.deterministic):``.
    """
    if not enabled:
        yield
        return
    was_set = os.environ.get(CUBLAS_VARIABLE) in _DETERMINISTIC_CUBLAS
    prepare()
    if not was_set and torch.cuda.is_available() and torch.cuda.is_initialized():
        warnings.warn(f"{CUBLAS_VARIABLE} was set after CUDA had started; call "
                      "layerdream.synthesis.determinism.prepare() before loading the model", stacklevel=3)
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]


#: MKL's conditional numerical reproducibility, strict: gemm gives the same bits at any thread count
MKL_STRICT = "AUTO,STRICT"


def mkl_thread_independent() -> bool:
    """Whether MKL's gemm gives the same bits at 1 and 2 threads in this process (a 1 ms probe).

    ``import layerdream`` sets ``MKL_CBWR=AUTO,STRICT`` (unless set), which MKL reads at its first
    call; a process that ran an MKL product before importing layerdream, or that set another value,
    keeps MKL's thread-dependent sums. ``(64 x 4096) @ (4096 x 64)`` is a shape whose sum MKL splits.
    """
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 4096, generator=g), torch.randn(4096, 64, generator=g)
    return bool(torch.equal(at_threads(1, lambda: a @ b), at_threads(2, lambda: a @ b)))


def record() -> dict:
    """What a result's config should carry about reproducibility (recorded, not fingerprinted).

    ``threads``: the CPU thread count. ``mkl_cbwr``: MKL's reproducibility mode as the environment
    gave it (``AUTO,STRICT`` by default: CPU images then do not depend on the thread count,
    docs/reproducibility.md), so a reader can rerun alike. ``deterministic``: whether the run used
    :func:`deterministic`.
    """
    return {"threads": torch.get_num_threads(), "mkl_cbwr": os.environ.get("MKL_CBWR"),
            "deterministic": torch.are_deterministic_algorithms_enabled()}


def at_threads(threads: int, fn):
    """``fn()`` with torch at ``threads`` CPU threads (restored after): how a reader checks that an image
    does not depend on the thread count (tests/synthesis/test_determinism.py, benchmarks/deterministic.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)
