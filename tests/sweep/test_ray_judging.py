"""Judging as a Ray stage (`layerdream judge RUN --ray`): answers come from Ray workers that hold their own
judge; cache, grading and verdict storage stay in the driver, so the verdicts equal a local judge's."""
from __future__ import annotations

import os
import sqlite3
import sys

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'layerdream[ray]'): Ray judging untested here")

from layerdream.evaluation.types import Answer, Judge, JudgeItem, Query  # noqa: E402
from layerdream.sweep.ray_judging import RayJudge  # noqa: E402
from layerdream.sweep.ray_runner import RayRunner  # noqa: E402
from run_helpers import start_test_ray  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class PidJudge(Judge):
    """Answers with the process that answered and the image's first byte (proves the bytes travelled)."""

    id = "pid"

    def prompt(self, item, protocol):
        return "?"

    def answer(self, queries, progress=False):
        return [Answer(f"{os.getpid()}:{open(q.item.image_path, 'rb').read(1).hex()}:{q.item.concept}") for q in queries]


@pytest.fixture(scope="module")
def local_ray():
    start_test_ray(ray)
    yield
    ray.shutdown()


def test_answers_come_from_workers_in_order(local_ray, tmp_path):
    items = []
    for i in range(40):
        path = tmp_path / f"{i}.png"
        path.write_bytes(bytes([i]) + b"image")
        items.append(JudgeItem.from_path(path, f"c{i}"))
    queries = [Query(item, "stringent", 0, "?") for item in items]
    judge = RayJudge(PidJudge(), PidJudge, RayRunner(None, workers=2, cpus_per_worker=1), chunk=8)
    try:
        answers = judge.answer(queries)
    finally:
        judge.close()
    pids = {a.text.split(":")[0] for a in answers}
    assert str(os.getpid()) not in pids and len(pids) == 2  # both workers answered, the driver did not
    assert [a.text.split(":", 1)[1] for a in answers] == [f"{i:02x}:c{i}" for i in range(40)]


def test_cli_judge_on_ray_stores_the_same_verdicts_as_local(tmp_path):
    from layerdream.cli import main

    if ray.is_initialized():
        ray.shutdown()
    run = tmp_path / "run"
    assert main(["sweep", "--concepts", "toy", "--layer", "1", "--seed", "0", "--steps", "2", "--no-controls",
                 "--out", str(run), "--quiet"]) == 0
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(run, copy)
    assert main(["judge", str(run), "--judge", "toy", "--ray", "--workers", "2", "--cpus-per-worker", "1", "--quiet"]) == 0
    assert main(["judge", str(copy), "--judge", "toy", "--quiet"]) == 0
    rows = [sqlite3.connect(r / "sweep.sqlite").execute(
        "select key, protocol, query_index, score, answer from verdicts order by key, protocol, query_index").fetchall()
        for r in (run, copy)]
    assert rows[0] == rows[1] and len(rows[0]) == 40
