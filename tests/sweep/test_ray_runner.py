"""Sweeps on a real Ray (issue 12): started by the test on 127.0.0.1 with 2 CPUs, never mocked.

What a Ray sweep must keep of a local one: the same images, byte for byte, and the same rows; every
job persisted exactly once when a worker process is SIGKILLed mid-batch (Ray restarts it and retries
the batch); a batch whose worker keeps dying recorded as failed with its reason, then made by the
next run; a worker's UserError as one line. The driver-level promises (driver SIGKILLed then resumed,
Ctrl-C) go through the real CLI in subprocesses that join this test's Ray.
"""
from __future__ import annotations

import collections
import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

# Ray turns 127.0.0.1 into the machine's network address unless clusters are off; a test Ray stays on loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'layerdream[ray]'): Ray sweeps untested here")

from layerdream.errors import UserError  # noqa: E402
from layerdream.sweep import SweepSpec, load_concept_set, run_sweep  # noqa: E402
from layerdream.sweep.plan import plan_jobs  # noqa: E402
from layerdream.sweep.ray_runner import RayRunner  # noqa: E402
from layerdream.sweep.store import Store  # noqa: E402
from run_helpers import cli_env, result_rows, start_test_ray  # noqa: E402

CONCEPTS = "categories:\n  colour: [red, blue, green]\n  animal: [dog, cat]\n  place: [sky, grass, circle]\n"
# the fakes below travel to the workers by value: this test module is not importable there
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_address():
    """One real Ray for the module (start-up is the slow part: ~6-10 s on 2 shared cores)."""
    address = start_test_ray(ray)
    yield address
    ray.shutdown()


@pytest.fixture
def concepts_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONCEPTS)
    return path


class SlowFake:
    """A picklable stand-in engine: deterministic little images after ``delay`` seconds per batch;
    each result's config names the worker process that made it. ``fail`` maps a job key to an error."""

    def __init__(self, delay: float = 0.0, fail: dict[str, BaseException] | None = None):
        self.delay = delay
        self.fail = dict(fail or {})

    def __call__(self, batch):
        import torch

        from layerdream.synthesis.result import SynthesisResult

        time.sleep(self.delay)
        out = []
        for job in batch:
            if job.key in self.fail:
                raise self.fail[job.key]
            g = torch.Generator().manual_seed(int(hashlib.sha256(job.key.encode()).hexdigest()[:8], 16))
            out.append((job, SynthesisResult(job.label, job.layer, job.seed, "fake", torch.rand(3, 8, 8, generator=g), [],
                                             0.0, 0.5, self.delay, {"pid": os.getpid()})))
        return out


class Spy:
    """Wraps a runner to see every ``on_result`` call (and act on it) in the driver."""

    def __init__(self, runner: RayRunner, hook: Callable[[Any], None] | None = None):
        self.runner = runner
        self.hook = hook
        self.delivered: list[str] = []

    @property
    def failures(self):
        return self.runner.failures

    def run(self, batches, execute, on_result):
        def wrapped(item):
            self.delivered.append(item[0].key)
            on_result(item)
            if self.hook:
                self.hook(item)

        return self.runner.run(batches, execute, wrapped)


def _spec(concepts_file, model="fake", layers=(1, 2), seeds=(0,), **kw) -> SweepSpec:
    kw.setdefault("controls_per_category", 1)  # the job counts below (8 concepts + 2 x 3 controls per layer and seed)
    return SweepSpec(model=model, concepts=load_concept_set(str(concepts_file)), layers=list(layers), seeds=list(seeds),
                     **kw)


def _rows(run: Path) -> list[dict]:
    store = Store.open_existing(run)
    try:
        return store.results()
    finally:
        store.close()


def test_ray_sweep_gives_the_same_images_and_rows_as_local(ray_address, tmp_path, tiny_folder, concepts_file):
    """The real engine on a tiny Gemma 3: 2 CPU workers vs the local backend, byte for byte."""
    spec = _spec(concepts_file, model=str(tiny_folder), steps=2, dtype="float32")
    local = run_sweep(spec, tmp_path / "local", device="cpu", batch_size=2, progress=False, log=lambda m: None)
    runner = RayRunner(workers=2, batch=2, progress=False, log=lambda m: None)
    on_ray = run_sweep(spec, tmp_path / "ray", device="cpu", batch_size=2, runner=runner, progress=False,
                       log=lambda m: None)
    assert local.ran == on_ray.ran == local.total == 2 * (8 + 2 * 3) and on_ray.failed == 0
    assert runner.dtype == "float32" and runner.total == local.total  # the sweep told the runner the RUN's dtype

    volatile = ("finished_at", "seconds")
    a = [{k: v for k, v in r.items() if k not in volatile} for r in _rows(tmp_path / "local")]
    b = [{k: v for k, v in r.items() if k not in volatile} for r in _rows(tmp_path / "ray")]
    assert a == b  # same keys, paths, sha256 of every image, cosines
    for row in a:
        assert (tmp_path / "local" / row["image_path"]).read_bytes() == (tmp_path / "ray" / row["image_path"]).read_bytes()
    # both workers worked, each one process for the whole sweep (its model loaded once, in its constructor)
    assert [len(s.pids) for s in runner.stats] == [1, 1] and all(s.images > 0 for s in runner.stats)
    assert sum(s.images for s in runner.stats) == local.total
    assert "images/s on 2 worker(s)" in runner.summary and "0 failed" in runner.summary


def test_sigkill_of_a_worker_mid_sweep_every_job_exactly_once(ray_address, tmp_path, concepts_file):
    killed: list[int] = []

    def kill_once(item) -> None:  # a worker is fed its next batch before this runs: it is mid-batch now
        if not killed:
            killed.append(item[1].config["pid"])
            os.kill(killed[0], signal.SIGKILL)

    runner = RayRunner(workers=2, progress=False, log=lambda m: None)
    spy = Spy(runner, kill_once)
    spec = _spec(concepts_file, seeds=(0, 1))
    outcome = run_sweep(spec, tmp_path / "run", batch_size=2, execute=SlowFake(delay=0.3), runner=spy, progress=False,
                        log=lambda m: None)
    total = 2 * 2 * (8 + 2 * 3)
    assert killed and outcome.ran == outcome.total == total and outcome.failed == 0
    counts = collections.Counter(spy.delivered)
    assert len(counts) == total and set(counts.values()) == {1}  # no job lost, none delivered twice
    rows = _rows(tmp_path / "run")
    assert len(rows) == len({r["key"] for r in rows}) == total
    # Ray restarted the killed worker (a new pid) and it went on working
    restarted = [s for s in runner.stats if killed[0] in s.pids]
    assert len(restarted) == 1 and len(restarted[0].pids) == 2


def test_a_batch_whose_worker_dies_for_good_is_recorded_failed_then_made_next_run(ray_address, tmp_path, concepts_file):
    victim: dict[str, Any] = {}

    def kill_once(item) -> None:
        if not victim:
            victim["pid"] = item[1].config["pid"]
            os.kill(victim["pid"], signal.SIGKILL)

    runner = RayRunner(workers=2, max_restarts=0, max_task_retries=0, progress=False, log=lambda m: None)
    spec = _spec(concepts_file)
    run = tmp_path / "run"
    outcome = run_sweep(spec, run, batch_size=2, execute=SlowFake(delay=0.3), runner=Spy(runner, kill_once),
                        progress=False, log=lambda m: None)
    total = 2 * (8 + 2 * 3)
    assert outcome.failed == 2 and outcome.ran == total - 2  # the batch in flight on the dead worker, nothing else
    (failure,) = runner.failures
    assert "died" in failure.reason and len(failure.keys) == 2
    assert f"{outcome.failed} job(s) FAILED" in runner.summary
    dead = [s for s in runner.stats if victim["pid"] in s.pids]
    assert len(dead) == 1 and not dead[0].alive  # the other worker finished the sweep
    store = Store.open_existing(run)
    assert store.get_meta("failures") == [{"keys": list(failure.keys), "reason": failure.reason}]
    store.close()

    messages: list[str] = []
    again = run_sweep(spec, run, batch_size=2, execute=SlowFake(), progress=False, log=messages.append)
    assert again.ran == 2 and again.failed == 0
    assert f"2 of {total} jobs to run ({total - 2} already done)" in messages[0]
    assert {r["key"] for r in _rows(run)} >= set(failure.keys)
    store = Store.open_existing(run)
    assert store.get_meta("failures") == []  # this run's failures (none) replace the last run's
    store.close()


def test_an_error_in_execute_fails_only_its_batch_and_a_user_error_ends_the_sweep(ray_address, tmp_path, concepts_file):
    spec = _spec(concepts_file, layers=(1,))
    keys = [j.key for j in plan_jobs(spec.concepts, [1], [0], True, 1)]
    runner = RayRunner(workers=2, progress=False, log=lambda m: None)
    outcome = run_sweep(spec, tmp_path / "a", batch_size=2, runner=runner, progress=False, log=lambda m: None,
                        execute=SlowFake(fail={keys[0]: RuntimeError("boom\nsecond line")}))
    assert outcome.failed == 2 and outcome.ran == len(keys) - 2
    assert [f.reason for f in runner.failures] == ["RuntimeError: boom"]

    runner = RayRunner(workers=2, progress=False, log=lambda m: None)
    with pytest.raises(UserError, match="^raise --max-memory$"):
        run_sweep(spec, tmp_path / "b", batch_size=2, runner=runner, progress=False, log=lambda m: None,
                  execute=SlowFake(fail={keys[0]: UserError("raise --max-memory")}))


def test_bad_worker_shapes_are_one_line_errors(ray_address, tmp_path, concepts_file):
    """...refused by the preflight, before the RUN is written (issue 24.21: the refused sweep left its
    settings, so the corrected command was refused as 'made with layers=[1], not [1, 2]')."""
    spec = _spec(concepts_file, layers=(1,))
    for runner, message in [
        (RayRunner(workers=3, progress=False), "--workers 3 x 1 CPU each does not fit"),
        (RayRunner(gpus_per_worker=1, progress=False), "the Ray cluster has 0 GPUs"),
        (RayRunner(cpus_per_worker=4, progress=False), "lower --cpus-per-worker"),
    ]:
        with pytest.raises(UserError, match=message):
            run_sweep(spec, tmp_path / "run", batch_size=2, runner=runner, execute=SlowFake(), progress=False,
                      log=lambda m: None)
        assert not (tmp_path / "run").exists()  # no RUN, so no settings to refuse the next command
    corrected = _spec(concepts_file, layers=(1, 2))
    outcome = run_sweep(corrected, tmp_path / "run", batch_size=2, runner=RayRunner(workers=2, progress=False, log=lambda m: None),
                        execute=SlowFake(), progress=False, log=lambda m: None)
    assert outcome.failed == 0 and outcome.ran == outcome.total
    with pytest.raises(UserError, match="--workers must be at least 1"):
        RayRunner(workers=0)


class DiesOnce(SlowFake):
    """Kills its own worker process on its first batch ever (a marker file says it happened), so the
    worker dies before the driver has seen any result of it; Ray restarts it and retries the batch."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def __call__(self, batch):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


def test_a_worker_restarted_during_its_first_batch_is_reported(ray_address, tmp_path, concepts_file):
    """Issue 24.17: the summary said nothing of a restart when the worker died before its first result."""
    runner = RayRunner(workers=1, progress=False, log=lambda m: None)
    outcome = run_sweep(_spec(concepts_file, layers=(1,)), tmp_path / "run", batch_size=4, runner=runner,
                        execute=DiesOnce(str(tmp_path / "died")), progress=False, log=lambda m: None)
    assert (tmp_path / "died").exists() and outcome.failed == 0 and outcome.ran == outcome.total
    assert "restarted 1x" in runner.summary, runner.summary


def test_nothing_listening_at_the_ray_address_is_one_line_at_once(tmp_path, concepts_file):
    """Issue 24.8: `--ray 127.0.0.1:1` printed Ray's reconnect warnings for 600 s and ignored SIGTERM."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "layerdream.cli", "sweep", "--concepts", str(concepts_file), "--out",
                           str(tmp_path / "run"), "--ray", "127.0.0.1:1", "--quiet"], env=cli_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "nothing answers at the Ray address 127.0.0.1:1" in proc.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "run").exists()


def test_ray_auto_with_a_stale_cluster_file_is_one_line(monkeypatch):
    """`--ray auto` after an earlier local --ray run joined the address it left in ray_current_cluster."""
    from ray._private import services, utils

    from layerdream.sweep.ray_connect import check_reachable

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(utils, "read_ray_address", lambda temp_dir=None: "127.0.0.1:1")
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])
    with pytest.raises(UserError, match="ray_current_cluster, which an earlier `ray start` or --ray run left"):
        check_reachable("auto")


# -- the driver: the real CLI in a subprocess that joins this test's Ray ------------------------------------

def _signal_when(cmd: list[str], db: Path, at_least: int, sig: int, timeout: float = 240) -> tuple[int, int, str]:
    """Run ``cmd``, send ``sig`` once RUN holds ``at_least`` rows; (rows then, return code, stderr)."""
    # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the child the default disposition, as a terminal's foreground process has
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    try:
        while result_rows(db) < at_least:
            if proc.poll() is not None:
                pytest.fail(f"sweep ended before the signal (rc {proc.returncode}): {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("sweep too slow to reach the signal")
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return result_rows(db), proc.returncode, err


def _wait_for_cpus(n: float, timeout: float = 60) -> bool:
    """Ray gives a dead or stopped driver's workers' CPUs back once it has killed them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0) >= n:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_driver_sigkilled_then_resumed_on_ray_and_locally(ray_address, tmp_path, tiny_folder, concepts_file):
    run = tmp_path / "run"
    db = run / "sweep.sqlite"
    base = [sys.executable, "-m", "layerdream.cli", "sweep", "--model", str(tiny_folder), "--concepts", str(concepts_file),
            "--layer", "1,2,3", "--seed", "0,1", "--steps", "2", "--batch", "2", "--device", "cpu", "--dtype", "float32",
            "--controls-per-category", "1", "--out", str(run), "--quiet"]
    on_ray = base + ["--ray", ray_address, "--workers", "2", "--cpus-per-worker", "1"]
    total = 3 * 2 * (8 + 2 * 3)
    first, rc, _ = _signal_when(on_ray, db, 6, signal.SIGKILL)  # the driver dies: its Ray workers with it
    assert rc == -signal.SIGKILL and 6 <= first < total
    assert _wait_for_cpus(2), "Ray did not stop the dead driver's workers"
    second, rc, _ = _signal_when(base, db, first + 10, signal.SIGKILL)  # resumed locally, killed again
    assert rc == -signal.SIGKILL and first < second < total
    done = subprocess.run(on_ray, env=cli_env(), capture_output=True, text=True, timeout=300)  # finished on Ray
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{total - second} of {total} jobs to run ({second} already done)" in done.stderr
    assert "layerdream sweep (Ray):" in done.stderr and "0 failed" in done.stderr

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT key, image_path, image_sha256 FROM results").fetchall()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert len(rows) == len({r[0] for r in rows}) == total  # nothing lost, nothing twice
    assert len(list((run / "images").rglob("*.png"))) == total and not list((run / "images").rglob("*.tmp"))
    for key, rel, sha in rows:
        assert hashlib.sha256((run / rel).read_bytes()).hexdigest() == sha, key
    again = subprocess.run(on_ray, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"all {total} jobs" in again.stderr  # nothing redone


@pytest.mark.slow
def test_ctrl_c_on_the_driver_stops_the_workers_and_keeps_finished_results(ray_address, tmp_path, tiny_folder,
                                                                         concepts_file):
    run = tmp_path / "run"
    db = run / "sweep.sqlite"
    # 30 steps: with 2 steps an idle machine finished all 84 images (1.4 s) before the driver handled the signal
    cmd = [sys.executable, "-m", "layerdream.cli", "sweep", "--model", str(tiny_folder), "--concepts", str(concepts_file),
           "--layer", "1,2,3", "--seed", "0,1", "--steps", "30", "--batch", "2", "--device", "cpu", "--dtype", "float32",
           "--out", str(run), "--quiet", "--ray", ray_address, "--workers", "2"]
    kept, rc, err = _signal_when(cmd, db, 4, signal.SIGINT)
    assert rc == 130, err[-2000:]
    assert "interrupted" in err and "Ray workers stopped" in err and "Traceback" not in err
    assert _wait_for_cpus(2, timeout=30), "the workers still hold their CPUs after Ctrl-C"
    rows = _rows(run)
    assert len(rows) == kept >= 4
    for row in rows:
        assert hashlib.sha256((run / row["image_path"]).read_bytes()).hexdigest() == row["image_sha256"]


def test_a_model_the_workers_cannot_load_is_one_line_before_any_batch(ray_address, tmp_path, tiny_folder, concepts_file):
    """A local model folder that is not there for the workers (on a cluster: not on that node)."""
    import shutil

    import layerdream as ld
    from layerdream.sweep.execute import EngineExecute

    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    vlm = ld.load(str(folder), device="cpu", dtype="float32")
    shutil.rmtree(folder)
    spec = _spec(concepts_file, model=str(folder), layers=(1,), steps=1, dtype="float32")
    runner = RayRunner(workers=2, progress=False, log=lambda m: None)
    with pytest.raises(UserError, match="does not exist") as err:
        run_sweep(spec, tmp_path / "run", batch_size=2, runner=runner, execute=EngineExecute(vlm, "fast", 1),
                  progress=False, log=lambda m: None)
    assert "\n" not in str(err.value)
    assert _rows(tmp_path / "run") == []


@pytest.mark.slow
def test_ray_with_no_address_runs_on_a_local_instance_of_its_own(tmp_path, tiny_folder, concepts_file):
    """`--ray` alone (a multi-GPU box): the CLI starts its own Ray, runs, stops it; here on the CPUs."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "layerdream.cli", "sweep", "--model", str(tiny_folder), "--concepts", str(concepts_file),
           "--layer", "1", "--seed", "0", "--steps", "1", "--batch", "4", "--device", "cpu", "--out", str(run), "--quiet",
           "--controls-per-category", "1", "--ray", "--cpus-per-worker", "1"]
    env = {k: v for k, v in cli_env().items() if k != "RAY_ADDRESS"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    total = 8 + 2 * 3
    assert "layerdream sweep (Ray):" in done.stderr and "0 failed" in done.stderr
    assert f"{total} of {total} jobs done" in done.stderr
    rows = _rows(run)
    assert len(rows) == len({r["key"] for r in rows}) == total


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ray_client_address_joins_a_cluster_started_with_ray_start(tmp_path, tiny_folder, concepts_file):
    """`--ray ray://HOST:PORT`: a cluster started the way a user starts one (`ray start --head`), joined
    through Ray Client; the RUN stays with the driver."""
    pytest.importorskip("grpc", reason="Ray Client needs ray[client] (grpcio); the layerdream[ray] extra brings it")
    gcs, client = _free_port(), _free_port()
    env = dict(cli_env(), RAY_AUTH_MODE="disabled")  # a throwaway loopback cluster: no token to hand around
    # `ray` through this interpreter: a `ray` script beside sys.executable exists only when pip installed ray into
    # this venv (not when the system's ray satisfied the requirement of a --system-site-packages venv)
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    head = subprocess.Popen([*ray_cli, "start", "--head", "--port", str(gcs), "--ray-client-server-port", str(client),
                             "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard", "false",
                             "--node-ip-address", "127.0.0.1", "--block"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = tmp_path / "run"
        cmd = [sys.executable, "-m", "layerdream.cli", "sweep", "--model", str(tiny_folder), "--concepts",
               str(concepts_file), "--layer", "1", "--seed", "0", "--steps", "1", "--batch", "2", "--device", "cpu",
               "--out", str(run), "--quiet", "--ray", f"ray://127.0.0.1:{client}", "--workers", "2"]
        deadline = time.monotonic() + 120
        while True:  # the head needs a few seconds before its client server answers
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            not_up_yet = "cannot reach the Ray cluster" in done.stderr or "nothing answers at the Ray address" in done.stderr
            if done.returncode == 0 or time.monotonic() > deadline or not not_up_yet:
                break
            time.sleep(2)
        assert done.returncode == 0, done.stderr[-2000:]
        total = int(re.search(r"(\d+) of \1 jobs to run", done.stderr).group(1))  # the plan, controls included
        assert "on 2 worker(s)" in done.stderr and f"{total} of {total} jobs done" in done.stderr
        assert len(_rows(run)) == total
    finally:
        head.terminate()  # `ray start --block` stops what it started on SIGTERM
        head.wait(60)
