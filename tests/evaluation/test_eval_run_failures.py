"""A judge whose server fails, end to end through `layerdream judge RUN` and `layerdream report RUN`:
failures counted on the terminal, exit 2 when most failed, asked again once the server is back, and
shown in the report (never empty plots with the word "error" nowhere)."""
from __future__ import annotations

import csv
import io

import pytest

from layerdream.cli import main


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("LD_TEST_KEY", "sk-test")


@pytest.fixture
def red_run(tmp_path):
    """A sweep RUN (no model) whose every image is solid red: the fake server answers "Dogs." to red."""
    import torch

    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    class Red:
        def __init__(self, job):
            self.image = torch.zeros(3, 16, 16)
            self.image[0] = 1.0
            self.cosine_initial, self.cosine_final, self.seconds, self.trajectory, self.config = 0.0, 0.5, 0.0, [], {}

        def to_pil(self):
            from PIL import Image

            return Image.fromarray((self.image.permute(1, 2, 0) * 255).byte().numpy())

    (tmp_path / "c.yaml").write_text("categories:\n  Animals: [dog, cat]\n")
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(tmp_path / "c.yaml")), layers=[1], seeds=[0])
    run_sweep(spec, tmp_path / "run", execute=lambda batch: [(j, Red(j)) for j in batch], progress=False, log=lambda m: None)
    return tmp_path / "run"


def _judge(server, run, *extra):
    return main(["judge", str(run), "--judge", "openai", "--judge-model", "fake-vlm", "--judge-base-url", server.url,
                 "--judge-api-key-env", "LD_TEST_KEY", "--judge-max-retries", "0", "--n-queries", "2", "--no-progress",
                 *extra])


@pytest.mark.parametrize("down", ["500", "html"])
def test_a_judge_that_fails_every_query_exits_2_then_retries_when_the_server_is_back(server, red_run, capsys, down):
    from layerdream.sweep.store import Store

    server.down = down
    assert _judge(server, red_run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    n_images = len(Store.open_existing(red_run).results())
    total = n_images * 2 * 2
    assert f"{total} of {total} queries FAILED" in err[0]
    assert err[-1].startswith("layerdream: error:") and f"{total} of {total} queries failed" in err[-1]

    assert main(["report", str(red_run)]) == 0
    html = (red_run / "report.html").read_text()
    assert f"{total} of {total} judge queries failed" in html and "Every query failed" in html
    assert "nothing to plot" in html
    assert main(["report", str(red_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and sum(int(r["errors"]) for r in rows if r["category"] == "All") == total

    server.down = None  # the server is back: the failed queries are asked again
    asked = server.count()
    assert _judge(server, red_run) == 0
    err = capsys.readouterr().err
    assert "FAILED" not in err and f"{total} verdicts stored" in err
    assert server.count() > asked
    verdicts = Store.open_existing(red_run).verdicts()
    assert len(verdicts) == total and all(v["error"] is None and v["score"] is not None for v in verdicts)
    assert main(["report", str(red_run)]) == 0
    assert "judge queries failed" not in (red_run / "report.html").read_text()


def test_a_few_failures_are_counted_but_do_not_fail_the_run(server, red_run, capsys, monkeypatch):
    """Below half failed: exit 0, the count on the terminal and in the report."""
    from layerdream.evaluation import chat

    real = chat.ChatClient._one
    calls = {"n": 0}

    async def flaky(self, client, sem, messages, retry_connection, *rest):
        calls["n"] += 1
        if calls["n"] % 5 == 0 and isinstance(messages[0]["content"], list):
            return chat.ChatResult(None, "server: HTTP 500 (after 0 retries)", 0, "server")
        return await real(self, client, sem, messages, retry_connection, *rest)

    monkeypatch.setattr(chat.ChatClient, "_one", flaky)
    assert _judge(server, red_run) == 0
    err = capsys.readouterr().err
    assert "queries FAILED" in err and "asked again on the next" in err
    assert main(["report", str(red_run)]) == 0
    html = (red_run / "report.html").read_text()
    assert "judge queries failed" in html and "queries failed (not counted)" in html
