"""Helpers for the annotation tests: a small RUN made without a model (the report tests' fake engine
and judge, through the real sweep, store and judge_run) whose concept set has a ``<script>`` category
and concept, and a real uvicorn server on a free loopback port in a thread. A module of its own name:
``conftest`` is ambiguous on sys.path in a full run."""
from __future__ import annotations

import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.append(str(Path(__file__).parents[1] / "report"))  # report_fakes

SCRIPT_CATEGORY = "<script>alert('category')</script>"
SCRIPT_CONCEPT = "<script>alert('concept')</script>"
CONCEPTS = ("categories:\n  Animals: [dog, {name: T-rex, synonyms: [tyrannosaurus]}, cat]\n"
            f"  \"{SCRIPT_CATEGORY}\": [\"{SCRIPT_CONCEPT}\", winter]\n")


def build_run(root: Path, judged: bool = True) -> Path:
    """A RUN of 5 concepts x 2 layers x 2 seeds + controls (36 images of 16x16 px), judged by the fake judge."""
    import torch
    from report_fakes import FakeJudge, fake_execute

    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    torch.set_num_threads(1)
    path = root / "concepts.yaml"
    path.write_text(CONCEPTS)
    run = root / "run"
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(path)), layers=[1, 5], seeds=[0, 1], steps=2,
                     controls_per_category=1)  # the page's mechanics, on a small RUN
    run_sweep(spec, run, execute=fake_execute, progress=False)
    if judged:
        store = Store.open_existing(run)
        judge_run(store, FakeJudge(), n_queries=4, progress=False)
        store.close()
    return run


@contextmanager
def serving(annotation, token: str | None = None, loopback: bool = True) -> Iterator[str]:
    """Serve ``annotation`` with the real app on uvicorn (in a thread); yields the base URL."""
    import uvicorn

    from layerdream.annotate.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(annotation, token=token, loopback=loopback),
                                           log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
