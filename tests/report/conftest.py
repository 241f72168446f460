"""A judged RUN made without a model: fake engine + fake judge through the real store, judge_run and evaluate."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))

from report_fakes import CONCEPTS  # noqa: E402


def make_run(root: Path, judged: bool = True) -> Path:
    from report_fakes import FakeJudge, fake_execute

    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    path = root / "concepts.yaml"
    path.write_text(CONCEPTS)
    run = root / "run"
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(path)), layers=[1, 5, 10], seeds=[0, 1], steps=2)
    run_sweep(spec, run, execute=fake_execute, progress=False)
    if judged:
        store = Store.open_existing(run)
        judge_run(store, FakeJudge(), n_queries=10, progress=False)
        store.close()
    return run


@pytest.fixture
def judged_run(tmp_path):
    return make_run(tmp_path)


@pytest.fixture
def unjudged_run(tmp_path):
    return make_run(tmp_path, judged=False)
