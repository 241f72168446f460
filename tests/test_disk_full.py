"""A full disk (issue 24.5): every command ends in one line (UserError), nothing is half-written, no
finished result is lost, and the space a sweep or a synthesis needs is checked before the compute.

The disk is simulated (ENOSPC from the write, SQLITE_FULL from the database), so the tests need no
mount and run anywhere; `mount -t tmpfs -o size=2m` gave the same lines by hand (docs/sweeps.md).
"""
from __future__ import annotations

import errno
import hashlib
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from layerdream import io as ld_io
from layerdream.errors import UserError
from layerdream.sweep.conceptsets import load_concept_set
from layerdream.sweep.store import Store
from layerdream.sweep.sweeper import SweepSpec, run_sweep

CONCEPTS = "categories:\n  colour: [red, blue, green]\n  shape: [circle, square]\n"


def Result(job):  # tests/fake_results.py
    from fake_results import FakeResult

    return FakeResult(job, size=8, cosine_final=0.5, config={})


class Engine:
    """A fake engine with the attribute the space check reads (``vlm.image_size``)."""

    def __init__(self, image_size: int = 8):
        self.vlm = SimpleNamespace(image_size=image_size)
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        return [(j, Result(j)) for j in batch]


def _spec(tmp_path: Path) -> SweepSpec:
    (tmp_path / "c.yaml").write_text(CONCEPTS)
    return SweepSpec(model="fake", concepts=load_concept_set(str(tmp_path / "c.yaml")), layers=[1, 2], seeds=[0])


def _full_after(monkeypatch, n_writes: int) -> None:
    """The disk fills up after ``n_writes`` more file writes: the next fsync fails with ENOSPC."""
    real = ld_io.os.fsync
    left = [n_writes]

    def fsync(fd):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= 1
        return real(fd)

    monkeypatch.setattr(ld_io.os, "fsync", fsync)


def _intact(run: Path) -> list[dict]:
    store = Store.open_existing(run, readonly=True)
    try:
        rows = store.results()
    finally:
        store.close()
    for r in rows:
        assert hashlib.sha256((run / r["image_path"]).read_bytes()).hexdigest() == r["image_sha256"]
        assert (run / r["image_path"]).with_suffix(".json").is_file()
    assert not list(run.rglob("*.tmp"))  # nothing half-written
    return rows


def test_an_atomic_write_on_a_full_disk_is_one_line_and_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    target.write_text('{"kept": true}\n')
    _full_after(monkeypatch, 0)
    with pytest.raises(UserError, match="no space left on the device of .*a.json") as err:
        ld_io.atomic_write_json(target, {"new": 1})
    assert "\n" not in str(err.value)
    assert target.read_text() == '{"kept": true}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_sweep_that_fills_the_disk_keeps_every_finished_image_and_resumes(tmp_path, monkeypatch):
    run, spec = tmp_path / "run", _spec(tmp_path)
    _full_after(monkeypatch, 9)  # four images (PNG + JSON) and the fifth PNG fit
    with pytest.raises(UserError, match="no space left on the device"):
        run_sweep(spec, run, execute=Engine(), batch_size=2, progress=False, log=lambda m: None)
    kept = _intact(run)
    assert len(kept) == 4
    monkeypatch.undo()  # space freed: the same command finishes the sweep
    outcome = run_sweep(spec, run, execute=Engine(), batch_size=2, progress=False, log=lambda m: None)
    assert outcome.already_done == 4 and len(_intact(run)) == outcome.total


def test_a_full_database_is_one_line_and_loses_no_committed_row(tmp_path):
    run, spec = tmp_path / "run", _spec(tmp_path)
    run_sweep(spec, run, execute=Engine(), progress=False, log=lambda m: None)
    store = Store.open_existing(run)
    before = store.results()

    class Full:  # SQLite's answer when the disk is full: at the write or at COMMIT
        def __init__(self, conn, at):
            self.conn, self.at = conn, at

        def execute(self, sql, *args):
            if sql.split()[0].upper() == self.at:
                raise sqlite3.OperationalError("database or disk is full")
            return self.conn.execute(sql, *args)

    real = store.conn
    for at in ("INSERT", "COMMIT", "BEGIN"):
        store.conn = Full(real, at)
        with pytest.raises(UserError, match="no space left on the device of .*sweep.sqlite"):
            store.add_result({**before[0], "key": "new|x|x|L1|s0"})
    store.conn = real
    assert store.results() == before
    store.close()


def test_a_judge_cache_on_a_full_disk_is_one_line(tmp_path):
    from layerdream.evaluation.cache import VerdictCache
    from layerdream.evaluation.types import Answer

    cache = VerdictCache(tmp_path / "cache.sqlite")
    real = cache.conn

    class Full:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def executemany(self, *a):
            raise sqlite3.OperationalError("database or disk is full")

    cache.conn = Full()
    with pytest.raises(UserError, match="no space left on the device of .*cache.sqlite"):
        cache.put_answers([(("sha", "red", "toy", "v1", "stringent", 0, "p"), Answer(text="red", score=1))])
    real.close()


def test_a_sweep_that_cannot_fit_is_refused_before_any_compute(tmp_path, monkeypatch):
    run, spec = tmp_path / "run", _spec(tmp_path)
    monkeypatch.setattr(ld_io, "free_bytes", lambda folder: 100_000)
    engine = Engine(image_size=896)  # some 20 images of a 896-px model: at least 10 MiB
    with pytest.raises(UserError, match=r"has 97.7 KiB free, and the \d+ pending images .* need at least \d+\.\d MiB"):
        run_sweep(spec, run, execute=engine, progress=False, log=lambda m: None)
    assert engine.calls == 0 and not run.exists()  # no compute, no RUN left behind
    monkeypatch.setattr(ld_io, "free_bytes", lambda folder: 10**12)
    outcome = run_sweep(spec, run, execute=engine, progress=False, log=lambda m: None)
    assert outcome.ran == outcome.total > 0


def test_synthesize_checks_the_space_of_what_is_left_to_make(tmp_path, monkeypatch):
    from layerdream.synthesis.result import check_space, stem

    monkeypatch.setattr(ld_io, "free_bytes", lambda folder: 1_000_000)
    with pytest.raises(UserError, match=r" 8 image\(s\) need at least"):  # 2 concepts x 2 layers x (image + 1 snapshot)
        check_space(tmp_path, 896, ["red", "blue", "red"], [1, 2], [0], snapshots=[5])  # red twice is one
    for c in ("red", "blue"):
        (tmp_path / f"{stem(c, 1, 0)}.json").write_text("{}")
        (tmp_path / f"{stem(c, 2, 0)}.json").write_text("{}")
    check_space(tmp_path, 896, ["red", "blue"], [1, 2], [0], snapshots=[5])  # all made: nothing to fit
    with pytest.raises(UserError, match="need at least"):
        check_space(tmp_path, 896, ["red", "blue"], [1, 2], [0], overwrite=True)


def test_the_synthesize_command_refuses_before_computing(tmp_path, monkeypatch, capsys):
    from layerdream.cli import main

    monkeypatch.setattr(ld_io, "free_bytes", lambda folder: 1000)
    assert main(["synthesize", "red", "--layer", "1,2", "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 image(s) need at least" in err[0] and "synthesis" not in err[0]
    assert not (tmp_path / "o").exists()  # nothing written, and the refused command leaves no empty --out behind


def test_report_and_its_figures_on_a_full_disk(tmp_path, monkeypatch, capsys):
    """The figures too are written atomically (matplotlib wrote straight into report_files/)."""
    from test_bad_inputs import _make_run  # a small judged RUN: the report draws figures

    from layerdream.cli import main

    run = _make_run(tmp_path)
    _full_after(monkeypatch, 0)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the device" in err[0]
    assert not (run / "report.html").exists() and not list(run.rglob("*.tmp"))
    assert not [p for p in (run / "report_files").rglob("*") if p.is_file()]
