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


def _judge_with(run, judge, **kw):
    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store

    store = Store.open_existing(run)
    try:
        return judge_run(store, judge, progress=False, **kw)
    finally:
        store.close()


def test_a_judge_that_asks_one_question_gets_one_section(unjudged_run):
    """Like the toy judge (deterministic, protocol-blind): identical answers to both protocols -> one section."""
    from report_fakes import FakeJudge

    from layerdream.evaluation import Query

    class OneQuestion(FakeJudge):
        id, deterministic = "one-question", True

        def answer(self, queries, progress=False):
            return super().answer([Query(q.item, "lenient", q.query_index, q.prompt) for q in queries])

    _judge_with(unjudged_run, OneQuestion())
    assert main(["report", str(unjudged_run)]) == 0
    html = (unjudged_run / "report.html").read_text()
    assert html.count("<h3>stringent = lenient") == 2  # one figure heading, one table heading
    assert "<h3>stringent</h3>" not in html and "<h3>lenient</h3>" not in html
    assert len(list((unjudged_run / "report_files").glob("figure3_*.png"))) == 1


def test_two_protocols_with_different_answers_keep_two_sections(judged_run):
    assert main(["report", str(judged_run)]) == 0
    html = (judged_run / "report.html").read_text()
    assert "stringent = lenient" not in html and "<h3>stringent</h3>" in html and "<h3>lenient</h3>" in html


def test_every_table_names_its_grader_and_the_matcher_is_labelled(unjudged_run, capsys):
    from report_fakes import FakeJudge

    from layerdream.evaluation.matcher import MatchGrader

    class Answering(FakeJudge):
        id = "answering"
        grader = MatchGrader()

        def answer(self, queries, progress=False):
            out = super().answer(queries)
            for a in out:
                a.score = None  # free text, graded by the matcher
            return out

    _judge_with(unjudged_run, Answering(), n_queries=2)
    assert main(["report", str(unjudged_run)]) == 0
    import html as htmllib

    html = htmllib.unescape((unjudged_run / "report.html").read_text())
    label = "offline string matcher (not the paper's rubric grader)"
    assert html.count(f"graded by: {label}") == 2  # the stringent and the lenient table
    assert main(["report", str(unjudged_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and all(r["grader"] == label for r in rows)
    assert main(["report", str(unjudged_run), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["grader"] == label


def test_chance_lines_carry_their_n_and_interval(judged_run):
    import re

    assert main(["report", str(judged_run)]) == 0
    html = (judged_run / "report.html").read_text()
    assert "chance: random directions (all categories)" in html and "chance: shuffled concepts (all categories)" in html
    # every chance value shows an interval, the number of answers and of images: "13% [6–25] q=40, 4 images"
    cells = re.findall(r"(?:random|shuffled) (\d+%) \[(\d+)–(\d+)\] q=(\d+), (\d+) images?", html)
    assert cells and all(int(q) > 0 and int(n) > 0 for *_, q, n in cells)
    pooled = re.findall(r"<td class='ctrl'>(\d+%) \[(\d+)–(\d+)\] q=(\d+), (\d+) images(?:, base rate \d+% over every label)?</td>", html)
    assert pooled and all(int(n) >= 2 for *_, n in pooled)  # the pooled line rests on every category's controls


def test_captions_spell_out_the_protocol_and_dates_are_dates(judged_run):
    import re

    assert main(["report", str(judged_run)]) == 0
    html = (judged_run / "report.html").read_text()
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    assert captions and all("lenient " in c and "stringent " in c for c in captions)
    assert not any(re.search(r"\bL \d+/\d+", c) for c in captions)  # "L" means layer, never lenient
    assert main(["report", str(judged_run), "--format", "json", "--out", str(judged_run / "t.json")]) == 0
    created = json.loads((judged_run / "t.json").read_text())["config"]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", created)
    import html as htmllib

    assert re.search(r'"created_at": "\d{4}-\d\d-\d\d', htmllib.unescape(html))


def test_no_debug_line_in_the_page(judged_run):
    assert main(["report", str(judged_run)]) == 0
    html = (judged_run / "report.html").read_text()
    assert "images not checked" not in html and "' total='" not in html
    assert '<div id="image-check" data-broken="-1" data-total="-1" class="warn" hidden></div>' in html


def test_an_earlier_report_may_be_replaced(judged_run, tmp_path):
    for fmt, name in (("html", "r.html"), ("csv", "r.csv"), ("json", "r.json")):
        out = tmp_path / name
        extra = ["--embed"] if fmt == "html" else []
        assert main(["report", str(judged_run), "--format", fmt, "--out", str(out), *extra]) == 0
        first = out.read_bytes()
        assert main(["report", str(judged_run), "--format", fmt, "--out", str(out), *extra]) == 0
        assert out.read_bytes()[:50] == first[:50]
    assert main(["report", str(judged_run)]) == 0 and main(["report", str(judged_run)]) == 0


def test_an_embedded_report_writes_one_file(judged_run, tmp_path):
    out = tmp_path / "portable" / "r.html"
    out.parent.mkdir()
    assert main(["report", str(judged_run), "--embed", "--out", str(out)]) == 0
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]


def test_the_report_shows_the_concept_interval_first_and_tests_concepts_against_controls(judged_run):
    """Issue 19 items 7-9: an interval over concepts beside the paper's over queries, the judge's base
    rate per category from every label, and a one-sided concept-vs-control test per category x layer."""
    import json

    assert main(["report", str(judged_run)]) == 0
    html = (judged_run / "report.html").read_text()
    assert "concepts [" in html and "· queries [" in html and "base rate" in html
    assert "concept vs control: one-sided permutation test" in html
    tables = json.loads((judged_run / "report_files" / "tables.json").read_text())
    concept = [r for r in tables["recognition"] if r["kind"] == "concept" and r["category"] == "All"]
    assert concept and all(r["ci_concepts_lo"] <= r["rate"] <= r["ci_concepts_hi"] and r["concepts"] == 5 for r in concept)
    controls = [r for r in tables["recognition"] if r["kind"] != "concept"]
    assert controls and all(r["base_rate"] is not None for r in controls)
    tests = [t for t in tables["tests"] if t["control"] == "controls" and t["category"] == "All"]
    assert {t["layer"] for t in tests} == {1, 5, 10}
    assert all(t["n_concepts"] == 5 and t["effect"] > 0 and t["p"] < 0.05 for t in tests if t["protocol"] == "lenient")


def test_the_weighting_ablation_is_shown_beside_the_main_result(tmp_path):
    """Issue 19 item 4: the arm's rate in each cell, judged against the concept (not as a control)."""
    from report_fakes import CONCEPTS, FakeJudge, fake_execute

    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    (tmp_path / "c.yaml").write_text(CONCEPTS)
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(tmp_path / "c.yaml")), layers=[1], seeds=[0],
                     controls_per_category=1, arms=["weighting-mean", "weighting-noprior"])
    run_sweep(spec, tmp_path / "run", execute=fake_execute, progress=False, log=lambda m: None)
    store = Store.open_existing(tmp_path / "run")
    judge_run(store, FakeJudge(), n_queries=2, progress=False)
    assert not {s["key"] for s in store.label_scores()} & {r["key"] for r in store.results() if r["kind"].startswith("weighting")}
    store.close()
    assert main(["report", str(tmp_path / "run")]) == 0
    html = (tmp_path / "run" / "report.html").read_text()
    assert "ablation: mean pooling" in html and "prior off" in html
    import layerdream as ld

    table = ld.Run(tmp_path / "run").recognition(by="layer", protocol="lenient")  # the API shows the arms too
    row = table.iloc[0]
    assert row["weighting_mean_n"] > 0 and row["weighting_noprior_n"] > 0
    assert 0 <= row["weighting_mean_rate"] <= 1 and row["weighting_mean_concepts"] == row["concepts"]
