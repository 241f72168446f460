"""The Ray backend's parts that need no Ray: the one-line refusals of the CLI and how work is cut.

These run everywhere, Ray installed or not: without Ray, ``--ray`` must say how to get it in one
line (exit 2) before anything is read, loaded or created.
"""
from __future__ import annotations

import sys

import pytest

from layerdream.cli import main
from layerdream.errors import UserError
from layerdream.sweep.conceptsets import load_concept_set
from layerdream.sweep.plan import plan_jobs
from layerdream.sweep.ray_runner import RayRunner, WorkQueue
from layerdream.sweep.runner import make_batches

CONCEPTS = "categories:\n  colour: [red, blue, green]\n  animal: [dog, cat]\n"


def _sweep_args(tmp_path, *extra: str) -> list[str]:
    concepts = tmp_path / "c.yaml"
    concepts.write_text(CONCEPTS)
    return ["sweep", "--model", "toy-aligned", "--concepts", str(concepts), "--layer", "1", "--seed", "0",
            "--out", str(tmp_path / "run"), "--quiet", *extra]


def test_ray_flag_without_ray_installed_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as on a machine without it
    assert main(_sweep_args(tmp_path, "--ray")) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--ray needs Ray" in lines[0] and "pip install 'layerdream[ray]'" in lines[0]
    assert not (tmp_path / "run").exists()  # refused before anything was created


@pytest.mark.parametrize("flag, value", [("--workers", "2"), ("--gpus-per-worker", "0.5"), ("--cpus-per-worker", "2")])
def test_ray_shape_flags_without_ray_are_one_line(tmp_path, capsys, flag, value):
    assert main(_sweep_args(tmp_path, flag, value)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{flag} only applies to Ray sweeps" in lines[0]
    assert not (tmp_path / "run").exists()


def test_runner_arguments_are_checked_when_built():
    with pytest.raises(UserError, match="--workers must be at least 1"):
        RayRunner(workers=0)
    with pytest.raises(UserError, match="--gpus-per-worker must be 0"):
        RayRunner(gpus_per_worker=-0.5)
    with pytest.raises(UserError, match="--cpus-per-worker must be positive"):
        RayRunner(cpus_per_worker=0)
    with pytest.raises(UserError, match="Ray workers run on cpu or cuda"):
        RayRunner(device="mps")


def _jobs():
    concepts = load_concept_set("toy")
    return plan_jobs(concepts, [1, 2], [0], True, 1)


def test_work_queue_with_equal_plans_cuts_exactly_like_a_local_sweep():
    jobs = _jobs()
    local = make_batches(jobs, 4)
    work = WorkQueue(make_batches(jobs, 8), [4, 4])  # the driver's own cut does not matter, the workers' plans do
    got = []
    while work:
        got.append(work.take(len(got) % 2))
    assert got == local


def test_work_queue_gives_each_worker_batches_of_its_own_plan_in_plan_order():
    jobs = _jobs()
    work = WorkQueue(make_batches(jobs, 8), [2, 5])  # e.g. a 40 GB and an 80 GB card in one cluster
    taken = []
    while work:
        worker = len(taken) % 2
        batch = work.take(worker)
        taken.append(batch)
        assert 1 <= len(batch) <= (2, 5)[worker]
        assert len({(j.layer, j.seed) for j in batch}) == 1  # one forward: one layer and seed
    assert [j.key for b in taken for j in b] == [j.key for b in make_batches(jobs, 8) for j in b]


def test_work_queue_without_plans_sends_the_drivers_batches_unchanged():
    batches = make_batches(_jobs(), 3)
    work = WorkQueue(batches, [None, None])
    assert len(work) == sum(len(b) for b in batches)
    assert [work.take(0) for _ in range(len(batches))] == batches and not work
    work = WorkQueue(batches, [None])
    assert work.drain() == [j for b in batches for j in b] and len(work) == 0
