"""The report's human section: kappa and the confusion counts by hand, pooling over annotators, the
default judge, exports, escaping."""
from __future__ import annotations

import csv
import io
import json

import pytest

from layerdream.annotate.session import Annotation
from layerdream.cli import main
from layerdream.report.build import load
from layerdream.report.tables import agreement_table, cohen_kappa, disagreements, recognition_table
from layerdream.sweep.store import Store


def test_cohen_kappa_by_hand():
    # 20 both yes, 5 judge only, 10 humans only, 15 neither: po = 0.7, pe = .5*.6 + .5*.4 = 0.5 -> 0.4
    assert cohen_kappa(20, 5, 10, 15) == pytest.approx(0.4)
    assert cohen_kappa(10, 0, 0, 10) == pytest.approx(1.0)
    assert cohen_kappa(0, 10, 10, 0) == pytest.approx(-1.0)
    assert cohen_kappa(5, 5, 5, 5) == pytest.approx(0.0)
    assert cohen_kappa(7, 0, 0, 0) is None and cohen_kappa(0, 0, 0, 0) is None  # chance agreement 1: undefined


def _v(key, judge, score, protocol="stringent", q=0, answer=None):
    return {"key": key, "judge": judge, "score": score, "protocol": protocol, "query_index": q, "answer": answer}


def test_agreement_pairs_each_human_answer_with_the_judges_image_decision():
    results = [{"key": f"k{i}", "kind": "concept", "concept": "dog", "source": "dog", "category": "Animals",
                "layer": 1 + i % 2, "seed": 0, "image_path": f"i{i}.png"} for i in range(4)]
    # judge: k0 3/4 yes, k1 1/4, k2 2/4 (not more than half: no), k3 4/4; one failed query on k3 is ignored
    model = [_v(f"k{i}", "m", int(q < yes), q=q) for i, yes in enumerate((3, 1, 2, 4)) for q in range(4)]
    model.append(_v("k3", "m", None, q=9))
    humans = [_v("k0", "human:a", 1), _v("k0", "human:b", 0), _v("k1", "human:a", 1), _v("k1", "human:b", 0),
              _v("k2", "human:a", 0), _v("k3", "human:a", 1), _v("k3", "human:b", None)]
    rows = agreement_table(results, {"m": model}, humans)
    overall = next(r for r in rows if r["category"] == "All" and r["layer"] == "all")
    # pairs: k0 (yes,yes) (yes,no); k1 (no,yes) (no,no); k2 (no,no); k3 (yes,yes); the ungraded answer is left out
    assert (overall["both_yes"], overall["judge_only"], overall["humans_only"], overall["neither"]) == (2, 1, 1, 2)
    assert overall["n"] == 6 and overall["kappa"] == pytest.approx(cohen_kappa(2, 1, 1, 2))
    layer2 = next(r for r in rows if r["category"] == "Animals" and r["layer"] == 2)  # k1, k3
    assert (layer2["both_yes"], layer2["judge_only"], layer2["humans_only"], layer2["neither"]) == (1, 0, 1, 1)
    worst = disagreements(results, {"m": model}, humans, top=2)
    # gaps |judge rate - human rate|: k2 .5 - 0 = .5; k0 .75 - .5 and k1 .25 - .5 tie at .25 (key order); k3 none
    assert [(d["key"], d["gap"]) for d in worst] == [("k2", 0.5), ("k0", 0.25)]
    assert worst[1]["answers"] == [{"annotator": "a", "answer": None, "score": 1}, {"annotator": "b", "answer": None, "score": 0}]
    # pooled human rate over annotators and images: 3 yes of 6 graded answers, 1 error
    (human_row,) = [r for r in recognition_table(results, humans) if r["category"] == "All" and r["layer"] == 1]
    assert (human_row["k"], human_row["n"]) == (1, 3)


def _annotate(run, names=("ann", "ben"), protocol="stringent", answer=None):
    for name in names:
        a = Annotation(run, protocol=protocol)
        while (p := a.progress(name)).item is not None:
            a.record(name, p.item.id, answer(name, p.item.row) if answer else p.item.row["concept"])


def test_report_with_humans_keeps_the_model_judge_and_adds_the_section(run, capsys):
    before = load(run)
    _annotate(run, answer=lambda n, r: r["concept"] if r["kind"] == "concept" else "<img src=x onerror=alert(1)>")
    data = load(run)
    assert data["judge"] == "fake-judge"  # humans who answered later do not become the default judge
    assert data["table"] == before["table"]  # the model judge's tables are unchanged
    humans = data["humans"]
    assert humans["judges"] == ["human:ann", "human:ben"] and humans["answers"] == 72
    concept_all = [r for r in humans["table"] if r["kind"] == "concept" and r["category"] == "All"]
    assert concept_all and all(r["rate"] == 1.0 and r["n"] == 2 * r["images"] for r in concept_all)
    assert all(r["rate"] == 0.0 for r in humans["table"] if r["kind"] != "concept"), [
        (r["kind"], r["category"], r["layer"], r["rate"]) for r in humans["table"] if r["kind"] != "concept"]
    assert {(r["judge"], r["protocol"]) for r in humans["agreement"]} == {("fake-judge", "stringent")}
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "<h2 id='humans'>Human judges</h2>" in html and "fake-judge vs humans, stringent" in html and "κ " in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    capsys.readouterr()
    assert main(["report", str(run), "--format", "json"]) == 0
    blob = json.loads(capsys.readouterr().out)
    assert blob["judge"] == "fake-judge" and blob["humans"]["answers"] == 72 and blob["humans"]["agreement"]
    assert main(["report", str(run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["judge"] for r in rows} == {"fake-judge"}
    assert main(["report", str(run), "--verdicts", "human:ann"]) == 0  # a human's verdicts work as a judge's
    assert "judge: <b>human:ann</b>" in (run / "report.html").read_text()


def test_report_without_humans_has_no_human_section(run):
    assert load(run)["humans"] is None
    assert main(["report", str(run)]) == 0
    assert "Human judges" not in (run / "report.html").read_text()


def test_report_of_humans_only(tmp_path):
    from annotate_fixtures import build_run

    run = build_run(tmp_path, judged=False)
    _annotate(run, names=("ann",), protocol="lenient")
    data = load(run)
    assert data["judge"] == "human:ann" and data["humans"]["agreement"] == []
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "humans, lenient" in html and "vs humans" not in html
    assert len(Store.open_existing(run).verdicts("human:ann")) == 36
