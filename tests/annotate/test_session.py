"""The annotation rules without a browser: blind ids, shuffled order, resume, grading, the verdict row."""
from __future__ import annotations

import re

import pytest

from layerdream.annotate.session import (CANT_TELL, HUMAN_PROMPT_VERSION, Annotation, clean_answer, clean_name,
                                         human_question, is_human)
from layerdream.errors import UserError
from layerdream.evaluation.types import Grade, Grader
from layerdream.sweep.store import Store


def _rows(run):
    store = Store.open_existing(run)
    try:
        return store.results(), store.verdicts()
    finally:
        store.close()


def test_order_is_blind_shuffled_per_annotator_stable_and_mixes_controls(run):
    a = Annotation(run)
    results, _ = _rows(run)
    store = Store.open_existing(run)
    items = a.items(store)
    store.close()
    assert len(items) == len(results) == 36
    for item_id, item in items.items():  # the id tells nothing: hex of an HMAC, not the key or file name
        assert re.fullmatch(r"[0-9a-f]{24}", item_id) and item.row["concept"] not in item_id
    alice, bob = [[it.key for it in a.order(n, items)] for n in ("alice", "bob")]
    assert sorted(alice) == sorted(bob) == sorted(r["key"] for r in results)
    assert alice != bob
    assert [it.key for it in Annotation(run).order("alice", items)] == alice  # same order when alice comes back
    assert Annotation(run).item_id(alice[0]) == a.item_id(alice[0])  # ids survive a restart (secret kept in RUN)
    kinds = [k.split("|")[0] for k in alice]
    first_control = min(i for i, k in enumerate(kinds) if k != "concept")
    last_concept = max(i for i, k in enumerate(kinds) if k == "concept")
    assert first_control < last_concept  # controls are mixed in, not appended
    assert Annotation(run, protocol="lenient").order("alice", items) != a.order("alice", items)


def test_answers_become_graded_verdicts_and_the_annotator_resumes(run):
    a = Annotation(run)
    by_key = {r["key"]: r for r in _rows(run)[0]}
    seen = []
    for i in range(5):
        p = a.progress("alice")
        assert p.answered == i and p.total == 36
        seen.append(p.item.key)
        concept = p.item.row["concept"]
        answer = {0: "Tyrannosaurus!" if concept == "T-rex" else f"a {concept}", 1: "nothing at all", 2: None}[i % 3]
        row = a.record("alice", p.item.id, answer)
        assert row is not None and row["judge"] == "human:alice"
    assert seen == [it.key for it in a.order("alice", a.items(Store.open_existing(run)))][:5]
    verdicts = [v for v in _rows(run)[1] if v["judge"] == "human:alice"]
    assert len(verdicts) == 5
    for v in verdicts:
        assert v["protocol"] == "stringent" and v["query_index"] == 0 and v["prompt_version"] == HUMAN_PROMPT_VERSION
        assert v["grader"] == "matcher" and v["error"] is None
        assert v["image_sha256"] == by_key[v["key"]]["image_sha256"] and v["concept"] == by_key[v["key"]]["concept"]
        expected = 0 if v["answer"] in (CANT_TELL, "nothing at all") else 1
        assert v["score"] == expected, v
    # a new Annotation (a restarted server) resumes at the sixth image
    assert Annotation(run).progress("alice").answered == 5
    assert Annotation(run).progress("alice").item.key == [it.key for it in a.order("alice", a.items(Store.open_existing(run)))][5]
    assert Annotation(run).progress("bob").answered == 0  # answers are per annotator


def test_answering_the_same_image_again_replaces_and_other_judges_are_untouched(run):
    a = Annotation(run)
    before = [v for v in _rows(run)[1] if v["judge"] == "fake-judge"]
    item = a.progress("alice").item
    a.record("alice", item.id, "nothing")
    a.record("alice", item.id, item.row["concept"])
    mine = [v for v in _rows(run)[1] if v["judge"] == "human:alice"]
    assert len(mine) == 1 and mine[0]["score"] == 1
    assert [v for v in _rows(run)[1] if v["judge"] == "fake-judge"] == before


def test_bad_answers_names_and_ids(run):
    a = Annotation(run)
    item = a.progress("alice").item
    with pytest.raises(ValueError, match="Esc"):
        a.record("alice", item.id, "   \t ")
    assert a.record("alice", "0" * 24, "dog") is None  # not an image of this RUN: nothing written
    assert a.record("alice", "../sweep.sqlite", "dog") is None
    assert not [v for v in _rows(run)[1] if is_human(v["judge"])]
    assert clean_answer("  a\x00 red\n dog ") == "a red dog" and len(clean_answer("x" * 999)) == 200
    assert clean_name("  Ana  María ") == "Ana María"
    for bad in ("", "   ", "a" * 41, "x:y", "<b>", "a/b"):
        with pytest.raises(ValueError):
            clean_name(bad)


def test_questions_choices_and_refusals(run, tmp_path):
    assert human_question("stringent", "Animals") == "What is in the image?"
    assert human_question("lenient", "Animals") == "What animal is in the image if you had to guess?"
    lenient = Annotation(run, protocol="lenient", choices=True)
    store = Store.open_existing(run)
    items = list(lenient.items(store).values())
    store.close()
    animal = next(it for it in items if it.row["category"] == "Animals")
    assert lenient.completions(animal) == ["cat", "dog", "T-rex"]
    assert Annotation(run, protocol="lenient").completions(animal) == []  # only when asked for
    with pytest.raises(UserError, match="--protocol lenient"):
        Annotation(run, protocol="stringent", choices=True)
    with pytest.raises(UserError, match="stringent or lenient"):
        Annotation(run, protocol="open")
    with pytest.raises(UserError, match="not a sweep folder|does not exist"):
        Annotation(tmp_path / "nothing")


def test_images_come_only_from_the_results_table_and_must_be_unchanged(run):
    a = Annotation(run)
    item = a.progress("alice").item
    data = a.image(item.id)
    assert data is not None and data.startswith(b"\x89PNG")
    for bad in ("sweep.sqlite", "../sweep.sqlite", item.row["image_path"], item.row["image_sha256"], item.key):
        assert a.image(bad) is None
    (run / item.row["image_path"]).write_bytes(data + b"changed")
    assert a.image(item.id) is None  # a file changed since the sweep recorded it is not shown


def test_an_image_remade_since_must_be_answered_again(run):
    a = Annotation(run)
    item = a.progress("alice").item
    a.record("alice", item.id, "dog")
    assert a.progress("alice").answered == 1
    store = Store.open_existing(run)
    store.conn.execute("UPDATE results SET image_sha256='remade' WHERE key=?", (item.key,))
    store.close()
    p = a.progress("alice")
    assert p.answered == 0 and p.item.key == item.key


class _Flaky(Grader):
    id = "llm:fake-grader@http://127.0.0.1:9"
    version = "rubric-v1"

    def __init__(self, up: bool):
        self.up = up
        self.seen: list[tuple[str, str, str]] = []

    def grade(self, tasks, progress=False):
        if not self.up:
            raise ConnectionError("grader down")
        self.seen += list(tasks)
        return [Grade(score=int(concept.lower() in response.lower())) for _, response, concept in tasks]


def test_a_grader_outage_keeps_the_answer_and_a_restart_grades_it(run):
    down = Annotation(run, grader=_Flaky(up=False))
    item = down.progress("alice").item
    down.record("alice", item.id, f"surely {item.row['concept']}")
    (v,) = [v for v in _rows(run)[1] if v["judge"] == "human:alice"]
    assert v["score"] is None and "grader down" in v["error"] and v["answer"] == f"surely {item.row['concept']}"
    assert down.progress("alice").answered == 1  # answered (not asked again): only the grading is redone
    grader = _Flaky(up=True)
    assert Annotation(run, grader=grader).regrade_failed() == 1
    (v,) = [v for v in _rows(run)[1] if v["judge"] == "human:alice"]
    assert v["score"] == 1 and v["error"] is None and v["grader"] == grader.id
    assert grader.seen == [("What is in the image?", f"surely {item.row['concept']}", item.row["concept"])]
