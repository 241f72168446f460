"""Helpers for tests that drive the real CLI in subprocesses or start a real Ray (a plain module:
``conftest`` is ambiguous on sys.path across test folders)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import layerdream

SRC = str(Path(layerdream.__file__).resolve().parents[1])


def cli_env() -> dict[str, str]:
    """The environment for a `python -m layerdream.cli` subprocess: this checkout's package, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def result_rows(db: Path) -> int:
    """Rows in a RUN's results table, read-only (0 while the database does not exist or is locked)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def start_test_ray(ray) -> str:
    """A real Ray on loopback with 2 CPUs (start-up is the slow part: ~6-10 s); returns its address."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", object_store_memory=256 * 2**20, logging_level="ERROR")
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:"), address
    return address
