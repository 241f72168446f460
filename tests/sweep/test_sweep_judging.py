"""judge_run: nothing lost on a re-judge that fails half-way, failed queries asked again, counts that tell the truth."""
from __future__ import annotations

import pytest

from layerdream.errors import UserError
from layerdream.evaluation import Answer, Judge
from layerdream.sweep.conceptsets import load_concept_set
from layerdream.sweep.judging import judge_run
from layerdream.sweep.store import Store
from layerdream.sweep.sweeper import SweepSpec, run_sweep


class ScriptedJudge(Judge):
    """Self-scoring: says yes to every concept image; ``down_after`` calls of answer() it is "down" (raises
    UserError, as the openai judge does when its server is gone); ``failing`` makes every answer an error."""

    id = "scripted"
    prompt_version = "s-v1"

    def __init__(self, down_after: int | None = None, failing: bool = False, answer_text: str = "yes"):
        self.down_after, self.failing, self.answer_text = down_after, failing, answer_text
        self.calls = 0
        self.asked: list[tuple[str, str]] = []

    def prompt(self, item, protocol):
        return f"{protocol}?"

    def answer(self, queries, progress=False):
        if self.down_after is not None and self.calls >= self.down_after:
            raise UserError("the judge at http://x is unreachable")
        self.calls += 1
        self.asked += [(q.item.key, q.protocol) for q in queries]
        if self.failing:
            return [Answer(text=None, error="server: HTTP 500 (after 4 retries)") for _ in queries]
        return [Answer(text=self.answer_text, score=1) for _ in queries]


def uncached(judge, items, **kwargs):
    """evaluate() without the answer cache, so that each call really asks the scripted judge."""
    from layerdream.evaluation.evaluate import evaluate

    return evaluate(judge, items, **{**kwargs, "cache_path": None})


@pytest.fixture
def run(tmp_path, small_set_file, fake_execute):
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(small_set_file)), layers=[1], seeds=[0])
    run_sweep(spec, tmp_path / "run", execute=fake_execute, progress=False, log=lambda m: None)
    store = Store.open_existing(tmp_path / "run")
    yield store
    store.close()


def _rows(store):
    return sorted((v["key"], v["protocol"], v["query_index"], v["answer"], v["score"], v["error"])
                  for v in store.verdicts("scripted"))


def test_a_rejudge_that_dies_half_way_keeps_every_verdict_it_did_not_redo(run):
    first = judge_run(run, ScriptedJudge(answer_text="old"), n_queries=2, progress=False, chunk=3, evaluate=uncached)
    n_images = len(run.results())
    assert first.stored == n_images * 2 * 2 and first.errors == 0
    with pytest.raises(UserError):
        judge_run(run, ScriptedJudge(down_after=1, answer_text="new"), n_queries=2, progress=False, chunk=3, rejudge=True, evaluate=uncached)
    rows = _rows(run)
    assert len(rows) == n_images * 2 * 2  # nothing deleted before its successor was stored
    assert sum(r[3] == "new" for r in rows) == 3 * 2 * 2 and sum(r[3] == "old" for r in rows) == (n_images - 3) * 2 * 2


def test_new_failures_never_replace_good_verdicts(run):
    judge_run(run, ScriptedJudge(answer_text="old"), n_queries=1, progress=False, evaluate=uncached)
    before = _rows(run)
    out = judge_run(run, ScriptedJudge(failing=True), n_queries=1, progress=False, rejudge=True, evaluate=uncached)
    assert out.errors == out.queries > 0 and out.kept == len(run.results()) * 2 and out.stored == 0
    assert _rows(run) == before


def test_failed_queries_are_stored_counted_and_asked_again(run):
    down = judge_run(run, ScriptedJudge(failing=True), n_queries=2, progress=False)
    n = len(run.results())
    assert (down.queries, down.errors, down.stored) == (n * 4, n * 4, n * 4) and down.failed_fraction == 1.0
    assert "HTTP 500" in down.error_examples[0]
    assert all(r[4] is None and r[5] for r in _rows(run))  # recorded as failures, never as "no"
    back = ScriptedJudge()
    again = judge_run(run, back, n_queries=2, progress=False)
    assert len(set(back.asked)) == n * 2  # every failed (image, protocol) asked again
    assert (again.errors, again.stored) == (0, n * 4)
    assert all(r[4] == 1 and r[5] is None for r in _rows(run))
    assert judge_run(run, ScriptedJudge(), n_queries=2, progress=False).queries == 0  # then nothing is left to ask


def test_a_remade_image_is_judged_again_and_its_old_verdicts_are_not_reported(tmp_path, small_set_file, fake_execute_factory):
    from layerdream.report.build import load

    spec = SweepSpec(model="fake", concepts=load_concept_set(str(small_set_file)), layers=[1], seeds=[0], controls=False)
    out = tmp_path / "run"
    run_sweep(spec, out, execute=fake_execute_factory(), progress=False, log=lambda m: None)
    store = Store.open_existing(out)
    judge_run(store, ScriptedJudge(answer_text="first"), n_queries=1, progress=False)
    row = store.results()[0]
    (out / row["image_path"]).write_bytes(b"not the image any more")
    store.close()

    class Other:  # the remade image differs from the first one
        def __init__(self):
            self.inner = fake_execute_factory()

        def __call__(self, batch):
            return [(j, r.__class__(r.label, r.layer, r.seed, 1 - r.image)) for j, r in self.inner(batch)]

    assert run_sweep(spec, out, execute=Other(), progress=False, log=lambda m: None).ran == 1
    store = Store.open_existing(out)
    new_sha = next(r["image_sha256"] for r in store.results() if r["key"] == row["key"])
    assert new_sha != row["image_sha256"]
    data = load(out)
    assert all(v["image_sha256"] == new_sha for v in data["verdicts"] if v["key"] == row["key"])
    assert not [v for v in data["verdicts"] if v["key"] == row["key"]]  # the old image's verdicts are not shown
    judge = ScriptedJudge(answer_text="second")
    judge_run(store, judge, n_queries=1, progress=False)
    assert {k for k, _ in judge.asked} == {row["key"]}
    assert {v["answer"] for v in store.verdicts("scripted") if v["key"] == row["key"]} == {"second"}
    store.close()


def test_judge_cli_counts_failures_and_exits_2_when_most_failed(run, capsys, monkeypatch):
    from layerdream.cli import main

    judges = iter([ScriptedJudge(failing=True), ScriptedJudge()])
    monkeypatch.setattr("layerdream.cli.flags.judge_from_args", lambda args: next(judges))
    n = len(run.results())
    assert main(["judge", str(run.run_dir), "--n-queries", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f"{2 * n} of {2 * n} queries FAILED" in err[0] and "HTTP 500" in err[0]
    assert err[-1].startswith("layerdream: error:") and "asked again" in err[-1]
    assert main(["judge", str(run.run_dir), "--n-queries", "1", "--no-progress"]) == 0  # the server is back
    err = capsys.readouterr().err
    assert f"{2 * n} verdicts stored" in err and "FAILED" not in err


class PickingJudge(Judge):
    """Self-scoring like the toy judge: answers the label it 'sees' (always 'red' or 'circle')."""

    id = "picking"
    prompt_version = "p-v1"
    deterministic = True

    def prompt(self, item, protocol):
        return f"head:{item.category}"

    def answer(self, queries, progress=False):
        picks = {"colour": "red", "shape": "circle"}
        return [Answer(text=picks[q.item.category], score=int(picks[q.item.category] == q.item.concept)) for q in queries]


class TalkingJudge(Judge):
    """Free text graded by the offline matcher: says 'a lime thing' (green's synonym) about everything."""

    id = "talking"
    prompt_version = "t-v1"

    def __init__(self):
        from layerdream.evaluation.matcher import MatchGrader

        self.grader = MatchGrader()
        self.calls = 0

    def prompt(self, item, protocol):
        return f"What {item.category} is it?"

    def answer(self, queries, progress=False):
        self.calls += len(queries)
        return [Answer(text="a lime thing") for _ in queries]


def test_controls_are_graded_against_every_label_of_their_category(run):
    """Issue 19 item 9: the judge's base rate per category, from the same answers (no extra judge query)."""
    judge_run(run, PickingJudge(), n_queries=3, protocols=("stringent",), progress=False)
    results = {r["key"]: r for r in run.results()}
    scores = run.label_scores("picking")
    controls = [k for k, r in results.items() if r["kind"] != "concept"]
    assert controls and {s["key"] for s in scores} == set(controls)  # concepts need no other labels
    for key in controls:
        mine = {s["label"]: s["score"] for s in scores if s["key"] == key}
        category = results[key]["category"]
        expected = {"colour": {"red": 1, "blue": 0, "green": 0}, "shape": {"circle": 1, "square": 0}}[category]
        assert mine == expected, (key, mine)
    talking = TalkingJudge()
    judge_run(run, talking, n_queries=2, protocols=("lenient",), progress=False)
    asked = talking.calls
    assert asked == 2 * len(results)  # graded against every label, asked once per query as before
    lime = {(s["key"], s["label"]): s["score"] for s in run.label_scores("talking")}
    colour_controls = [k for k in controls if results[k]["category"] == "colour"]
    assert colour_controls and all(lime[(k, "green")] == 1 and lime[(k, "red")] == 0 for k in colour_controls)


def test_a_run_judged_before_label_scores_gets_them_on_the_next_judge(run):
    judge_run(run, PickingJudge(), n_queries=1, protocols=("stringent",), progress=False)
    run.conn.execute("DELETE FROM label_scores")  # as judged by an earlier layerdream
    again = judge_run(run, PickingJudge(), n_queries=1, protocols=("stringent",), progress=False)
    controls = [r for r in run.results() if r["kind"] != "concept"]
    assert again.images == len(controls) and run.label_scores("picking")
    assert judge_run(run, PickingJudge(), n_queries=1, protocols=("stringent",), progress=False).images == 0
