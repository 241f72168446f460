"""``--deterministic``: the same command gives the same image on a GPU too, at a measured cost.

On CPU nothing needs switching on: the synthesis ops are written so that a seed gives bit-identical
images at any thread count (``param.resize``, ``augment._Crops``; docs/reproducibility.md). On CUDA
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


def record() -> dict:
    """What a result's config should carry about reproducibility (recorded, not fingerprinted).

    ``threads``: CPU images do not depend on it for the shipped and tiny models (tested), but
    PyTorch's CPU attention and MKL matrix products at other sizes can (docs/reproducibility.md),
    so a reader can rerun at the same count. ``deterministic``: whether the run used
    :func:`deterministic`.
    """
    return {"threads": torch.get_num_threads(), "deterministic": torch.are_deterministic_algorithms_enabled()}


def at_threads(threads: int, fn):
    """``fn()`` with torch at ``threads`` CPU threads (restored after): how a reader checks that an image
    does not depend on the thread count (tests/synthesis/test_determinism.py, benchmarks/deterministic.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)
