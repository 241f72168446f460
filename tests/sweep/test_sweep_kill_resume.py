"""The crash-safety promise, tested for real: a `layerdream sweep` subprocess SIGKILLed twice mid-run,
then resumed with the same command, ends with every job done exactly once and every image intact."""
from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from run_helpers import cli_env, result_rows

CONCEPTS = "categories:\n  colour: [red, blue, green]\n  animal: [dog, cat]\n  place: [sky, grass, circle]\n"


def _kill_when(cmd: list[str], db: Path, at_least: int, timeout: float = 240) -> int:
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while result_rows(db) < at_least:
            if proc.poll() is not None:
                pytest.fail(f"sweep ended before the kill (rc {proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("sweep too slow to reach the kill point")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    return result_rows(db)


@pytest.mark.slow
def test_sigkill_twice_then_resume(tmp_path, tiny_folder):
    concepts = tmp_path / "c.yaml"
    concepts.write_text(CONCEPTS)
    run = tmp_path / "run"
    db = run / "sweep.sqlite"
    cmd = [sys.executable, "-m", "layerdream.cli", "sweep", "--model", str(tiny_folder), "--concepts", str(concepts),
           "--layer", "1,2,3", "--seed", "0,1", "--steps", "2", "--batch", "2", "--device", "cpu", "--dtype", "float32",
           "--controls-per-category", "1", "--out", str(run), "--no-progress"]
    total = 3 * 2 * (8 + 2 * 3)  # layers x seeds x (concepts + random and shuffled per category)
    first = _kill_when(cmd, db, 6)
    second = _kill_when(cmd, db, first + 10)
    assert 6 <= first < second < total
    done = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{total - second} of {total} jobs to run ({second} already done)" in done.stderr

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT key, image_path, image_sha256, kind FROM results").fetchall()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)) == total
    assert {r[3] for r in rows} == {"concept", "random", "shuffled"}
    pngs = sorted((run / "images").rglob("*.png"))
    assert len(pngs) == total  # an image written but not recorded before a kill was remade in place
    assert not list((run / "images").rglob("*.tmp"))
    for key, rel, sha, _ in rows:
        data = (run / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, key
        with Image.open(run / rel) as im:
            im.load()
            assert im.size[0] > 0

    again = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"all {total} jobs" in again.stderr


def test_cli_refuses_other_settings_in_one_line(tmp_path, tiny_folder, capsys):
    from layerdream.cli import main

    concepts = tmp_path / "c.yaml"
    concepts.write_text(CONCEPTS)
    base = ["sweep", "--model", str(tiny_folder), "--concepts", str(concepts), "--layer", "1", "--seed", "0",
            "--steps", "1", "--batch", "16", "--device", "cpu", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    changed = list(base)
    changed[changed.index("--steps") + 1] = "2"
    assert main(changed) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "steps=1" in lines[0] and "new --out" in lines[0]
