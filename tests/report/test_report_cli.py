import csv
import io
import json

import pytest

from layerdream.cli import main


def test_report_html_and_exports(judged_run, capsys):
    assert main(["report", str(judged_run)]) == 0
    html = (judged_run / "report.html").read_text()
    assert "fake-judge" in html and "Gallery" in html and "T-rex" in html
    assert (judged_run / "report_files" / "figure3_lenient.png").stat().st_size > 1000
    assert (judged_run / "report_files" / "figure3_stringent.png").is_file()
    capsys.readouterr()
    assert main(["report", str(judged_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    kinds = {r["kind"] for r in rows}
    assert kinds == {"concept", "random", "shuffled"}
    assert {r["protocol"] for r in rows} == {"stringent", "lenient"}
    assert {r["layer"] for r in rows} == {"1", "5", "10"}
    assert main(["report", str(judged_run), "--format", "json"]) == 0
    blob = json.loads(capsys.readouterr().out)
    assert blob["judge"] == "fake-judge" and blob["config"]["settings"]["layers"] == [1, 5, 10]


def test_embedded_report_is_one_file(judged_run, tmp_path):
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    assert main(["report", str(judged_run), "--embed", "--out", str(out)]) == 0
    text = out.read_text()
    assert "src='images/" not in text and text.count("data:image/png;base64,") > 60


def test_report_before_judging(unjudged_run):
    assert main(["report", str(unjudged_run)]) == 0
    assert "no verdicts yet" in (unjudged_run / "report.html").read_text()


def test_rejudging_is_idempotent_and_replaceable(judged_run):
    from report_fakes import FakeJudge

    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store

    store = Store.open_existing(judged_run)
    before = len(store.verdicts("fake-judge"))
    assert judge_run(store, FakeJudge(), n_queries=10, progress=False).stored == 0
    assert judge_run(store, FakeJudge(), n_queries=10, progress=False, rejudge=True).stored == before
    assert len(store.verdicts("fake-judge")) == before


@pytest.mark.parametrize("command", ["report", "judge"])
@pytest.mark.parametrize("make", ["missing", "not_a_run", "a_file"])
def test_bad_run_folder_is_one_line_exit_2(tmp_path, capsys, command, make):
    target = tmp_path / "x"
    if make == "not_a_run":
        target.mkdir()
    elif make == "a_file":
        target.write_text("x")
    assert main([command, str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target) in err[0]


def test_unknown_judge_id_is_refused(judged_run, capsys):
    assert main(["report", str(judged_run), "--judge", "nobody"]) == 2
    assert "fake-judge" in capsys.readouterr().err


def test_judging_a_sweep_in_progress_then_again(tmp_path):
    from report_fakes import CONCEPTS, FakeJudge, fake_execute

    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    (tmp_path / "c.yaml").write_text(CONCEPTS)
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(tmp_path / "c.yaml")), layers=[1, 2], seeds=[0])
    calls = []

    def stop_midway(batch):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(batch)
        return fake_execute(batch)

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "run", execute=stop_midway, batch_size=3, progress=False)
    store = Store.open_existing(tmp_path / "run")
    first = judge_run(store, FakeJudge(), n_queries=3, progress=False).stored
    assert first == 6 * 2 * 3  # 6 images so far x 2 protocols x 3 queries
    run_sweep(spec, tmp_path / "run", execute=fake_execute, progress=False)
    second = judge_run(store, FakeJudge(), n_queries=3, progress=False).stored
    total_images = len(store.results())
    assert second == (total_images - 6) * 2 * 3
    assert len(store.verdicts("fake-judge")) == total_images * 6
