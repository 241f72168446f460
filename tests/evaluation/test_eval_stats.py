"""Statistics, the offline matcher, prompts and the CLI flags: pure logic, milliseconds."""
from __future__ import annotations

import argparse

import pytest

from layerdream.errors import UserError
from layerdream.evaluation import (
    LENIENT_PROMPT, PROMPT_VERSION, STRINGENT_PROMPT, JudgeItem, Verdict, matches, pivot, recognition_prompt,
    summarize, verdict_rows, wilson_interval,
)
from layerdream.evaluation.evaluate import evaluate  # the function (the package attribute may be the submodule)
from layerdream.evaluation.openai_judge import parse_result


@pytest.mark.parametrize("k,n,low,high", [
    (0, 10, 0.0, 0.2775),      # Wilson 0/10, e.g. statsmodels proportion_confint(method="wilson")
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 10, 0.0179, 0.4042),
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Stat. Med. 17:857, example (method 3, score interval)
])
def test_wilson_known_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    lo90, hi90 = wilson_interval(5, 10, z=1.645)
    lo95, hi95 = wilson_interval(5, 10)
    assert lo95 < lo90 < 0.5 < hi90 < hi95


MATCH_TABLE = [
    ("Dogs.", "dog", True), ("dog", "Dogs", True), ("A dog", "dog", True), ("DOG!", "dog", True),
    ("Spring", "spring (season)", True), ("spring (season)", "spring", True), ("Autumn", "autumn", True),
    ("Fall", "autumn", True), ("Puppy", "dog", True), ("cat", "dog", False), ("", "dog", False),
    ("T-Rex", "T-rex", True), ("Tyrannosaurus", "T-rex", True), ("Dinosaurs", "T-rex", True),
    ("New York City", "new york", True), ("York", "new york", False), ("Shakespeare", "William Shakespeare", True),
    ("Mozart.", "Wolfgang Amadeus Mozart", True), ("Chess", "chess", True), ("Foxes", "fox", True),
    ("Butterflies", "butterfly", True), ("Mice", "mouse", True), ("Happy", "happiness", True),
    ("Sadness", "sad person", False), ("Sad", "sad person", True), ("Frida", "Frida Kahlo", True),
    ("Café", "cafe", True), ("frogspawn", "frog", False), ("Math", "mathematics", True), ("Football", "soccer", True),
    ("Summer", "summer", True), ("Winter", "summer", False), ("Paris", "paris", True), ("Jupiter", "jupiter", True),
]


@pytest.mark.parametrize("answer,concept,expected", MATCH_TABLE)
def test_matcher_table(answer, concept, expected):
    assert matches(answer, concept) is expected


def test_matcher_extra_synonyms():
    assert not matches("Hound", "wolf")
    assert matches("Hound", "wolf", synonyms=["hound"])


def test_prompts_are_the_papers():
    assert STRINGENT_PROMPT == "What is in the image? One word."
    assert LENIENT_PROMPT == "What {category} is in the image if you had to guess? One word."
    assert recognition_prompt("lenient", "Animals") == "What animal is in the image if you had to guess? One word."
    assert recognition_prompt("lenient", "vehicle") == "What vehicle is in the image if you had to guess? One word."
    assert PROMPT_VERSION
    with pytest.raises(ValueError):
        recognition_prompt("sloppy", None)


@pytest.mark.parametrize("text,score", [
    ("The model says dog.\nResult: 1", 1), ("Result: 0", 0), ("**Result: 1**", 1), ("result:1", 1),
    ("First I thought Result: 1 but no.\nResult: 0", 0), ("I cannot decide", None), ("", None), (None, None),
])
def test_parse_result(text, score):
    assert parse_result(text) == score


def _rows():
    rows = []
    for layer in (1, 5):
        for concept, seeds in (("dog", (0, 1)), ("cat", (0, 1))):
            for seed in seeds:
                for q in range(10):
                    score = int(q < (8 if concept == "dog" else 2)) if layer == 1 else int(q < 5)
                    rows.append({"category": "Animals", "layer": layer, "concept": concept, "seed": seed, "score": score})
    rows.append({"category": "Animals", "layer": 1, "concept": "dog", "seed": 0, "score": None, "error": "timeout"})
    return rows


def test_summarize_rates_and_intervals():
    table = summarize(_rows())
    assert [(r["category"], r["layer"]) for r in table] == [("Animals", 1), ("Animals", 5)]
    first = table[0]
    assert first["n"] == 40 and first["successes"] == 20 and first["rate"] == 0.5 and first["errors"] == 1
    assert (first["low"], first["high"]) == pytest.approx(wilson_interval(20, 40))
    assert first["units"] == 4 and first["unit_rate"] == pytest.approx(0.5)
    # the spread between concepts (0.8 vs 0.2) makes the over-units interval wider than over-queries
    assert first["unit_high"] - first["unit_low"] > first["high"] - first["low"]
    assert table[1]["unit_low"] == table[1]["unit_high"] == 0.5  # every unit identical


def test_summarize_other_grouping_and_pivot():
    by_concept = summarize(_rows(), by=("concept", "layer"))
    assert [(r["concept"], r["layer"]) for r in by_concept] == [("cat", 1), ("cat", 5), ("dog", 1), ("dog", 5)]
    wide = pivot(summarize(_rows()), index="category", columns="layer")
    assert wide == [{"category": "Animals", "1": 0.5, "5": 0.5}]


def test_verdict_rows_merge_metadata():
    v = Verdict(key="j1", concept="dog", protocol="lenient", query_index=0, answer="Dog", score=1, error=None,
                judge="toy:x", prompt_version=PROMPT_VERSION, grader="self", category="Animals")
    rows = verdict_rows([v], {"j1": {"layer": 3, "seed": 0}})
    assert rows[0]["layer"] == 3 and rows[0]["score"] == 1 and rows[0]["category"] == "Animals"
    assert summarize(rows)[0]["rate"] == 1.0


def test_evaluate_validates_arguments(images):
    from layerdream.evaluation.types import Judge

    item = JudgeItem.from_path(images["red"], "dog")
    assert len(item.image_sha256) == 64
    with pytest.raises(UserError, match="protocol"):
        evaluate(Judge(), [item], protocols=("open",), progress=False)
    with pytest.raises(UserError, match="n-queries"):
        evaluate(Judge(), [item], n_queries=0, progress=False)


def test_cli_flags_and_judge_image(images, capsys):
    import json

    from layerdream.cli.flags import add_judge_flags, judge_from_args, protocols_from_args
    from layerdream.cli import main

    parser = argparse.ArgumentParser()
    add_judge_flags(parser)
    args = parser.parse_args(["--judge", "hf"])
    with pytest.raises(UserError, match="--judge-model"):
        judge_from_args(args)
    with pytest.raises(UserError, match="--protocol"):
        protocols_from_args(parser.parse_args(["--protocol", "strict"]))
    assert protocols_from_args(parser.parse_args(["--protocol", "lenient"])) == ("lenient",)
    assert main(["judge-image", images["red"], "--concept", "dog", "--judge", "toy", "--judge-model", "/nonexistent"]) == 2
    assert "no toy judge" in capsys.readouterr().err


def test_make_judge_rejects_typos_and_unknown_names():
    from layerdream.evaluation import make_grader, make_judge

    with pytest.raises(TypeError, match="grader_modle"):
        make_grader(grader_modle="gpt-5-mini")
    with pytest.raises(UserError, match="unknown judge"):
        make_judge("gpt5")
    with pytest.raises(UserError, match="scores itself"):
        make_judge("toy", classifier=object(), grader_model="gpt-5-mini")


def test_summarize_never_pools_protocols():
    rows = ([{"category": "Animals", "layer": 1, "concept": "dog", "seed": 0, "protocol": "stringent", "score": 0}] * 10
            + [{"category": "Animals", "layer": 1, "concept": "dog", "seed": 0, "protocol": "lenient", "score": 1}] * 10)
    table = summarize(rows)  # the default by=("category", "layer") does not name the protocol
    assert {(r["protocol"], r["rate"], r["n"]) for r in table} == {("stringent", 0.0, 10), ("lenient", 1.0, 10)}
    with pytest.raises(ValueError, match="protocol="):
        pivot(table)
    assert pivot(table, protocol="lenient") == [{"category": "Animals", "1": 1.0}]


def test_lenient_hints_are_the_papers_category_names():
    """The hint is the paper's category name (its concept list), in the singular; no invented nouns."""
    from layerdream.sweep.conceptsets import load_concept_set

    expected = {
        "Animals": "animal", "Seasons": "season", "Celebrations": "celebration", "Subjects": "subject",
        "Sensory": "sensory", "People": "person", "Cities": "city", "Sports": "sport", "Nationalities": "nationality",
        "Activities": "activity", "Emotions": "emotion", "Emotion adjectives": "emotion adjective",
        "LLM tasks": "LLM task", "Physical objects": "physical object",
    }
    paper = load_concept_set("paper")
    assert set(paper.categories) == set(expected)
    for category, noun in expected.items():
        assert recognition_prompt("lenient", category) == f"What {noun} is in the image if you had to guess? One word."
    for invented in ("famous person", "school subject", "sensation", "kind of person"):
        assert all(invented not in recognition_prompt("lenient", c) for c in expected)
    assert recognition_prompt("lenient", "Vehicles of NASA") == "What vehicles of NASA is in the image if you had to guess? One word."
    assert PROMPT_VERSION == "recog-v2"  # the lenient question changed: cached v1 answers are not reused



def test_permutation_test_is_exact_for_small_samples():
    from layerdream.evaluation.stats import permutation_test

    assert permutation_test([1.0, 1.0], [0.0, 0.0]) == pytest.approx(1 / 6)  # one of C(4, 2) splits is as extreme
    assert permutation_test([0.0, 0.0], [1.0, 1.0]) == 1.0  # one-sided: no evidence the other way round
    assert permutation_test([0.5], []) is None
    many = permutation_test([0.9] * 30 + [0.1] * 10, [0.1] * 40, n_perm=2000)  # 80 choose 40: sampled
    assert 0 < many < 0.001


def test_the_concept_bootstrap_resamples_concepts_with_their_seeds():
    """Three seeds of one concept that agree are one concept's evidence, not three independent images."""
    from layerdream.evaluation.stats import bootstrap_mean_interval, cluster_bootstrap_rate

    images = [(c, k, 10) for c, k in (("dog", 9), ("cat", 1), ("frog", 5), ("owl", 7)) for _ in range(3)]
    lo, hi = cluster_bootstrap_rate(images)
    naive = bootstrap_mean_interval([k / n for _, k, n in images])
    assert lo <= 22 / 40 <= hi and (hi - lo) > 1.5 * (naive[1] - naive[0])
    assert cluster_bootstrap_rate([("dog", 3, 10)]) == (0.0, 1.0)  # one concept says nothing about concepts
    assert cluster_bootstrap_rate(images) == (lo, hi)  # deterministic


def test_concept_vs_control_counts_a_concept_once_whatever_its_seeds():
    from layerdream.evaluation.stats import concept_vs_control

    out = concept_vs_control({"dog": [1.0, 0.8], "cat": [0.9]}, [0.0, 0.1, 0.2, 0.0])
    assert (out["n_concepts"], out["n_controls"]) == (2, 4)
    assert out["concept_rate"] == pytest.approx(0.9) and out["effect"] == pytest.approx(0.9 - 0.075)
    assert out["p"] == pytest.approx(1 / 15)  # C(6, 2) = 15 splits, the observed is the most extreme


def test_t_and_normal_quantiles():
    from layerdream.evaluation.stats import normal_quantile, t_quantile

    assert normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert [round(t_quantile(0.975, df), 3) for df in (1, 2, 6, 30)] == [12.706, 4.303, 2.447, 2.042]


def test_summarize_resamples_concepts_not_concept_seed_pairs():
    """Issue 19 item 8: seeds that agree within a concept no longer narrow the concept-level interval."""
    from layerdream.evaluation.stats import bootstrap_mean_interval

    rows = [{"concept": c, "seed": s, "category": "A", "layer": 1, "score": int(q < k)}
            for c, k in (("dog", 9), ("cat", 1), ("frog", 5), ("owl", 7)) for s in range(3) for q in range(10)]
    [cell] = summarize(rows)
    naive = bootstrap_mean_interval([0.9] * 3 + [0.1] * 3 + [0.5] * 3 + [0.7] * 3)
    assert cell["units"] == 12 and cell["unit_rate"] == pytest.approx(0.55)
    assert cell["unit_high"] - cell["unit_low"] > 1.5 * (naive[1] - naive[0])


def test_the_concept_interval_of_concepts_that_all_agree_is_not_a_point():
    """5 of 5 concepts recognised printed 100% [100-100] as the interval for a claim about concepts (the
    bootstrap cannot vary when every concept agrees); now Wilson over the 5 concepts, as wide as 5 allow."""
    from layerdream.evaluation.stats import cluster_bootstrap_rate, wilson_interval

    all_yes = [(c, 1, 1) for c in "abcde"]
    lo, hi = cluster_bootstrap_rate(all_yes)
    assert hi == 1.0 and lo < 0.6 and (lo, hi) == pytest.approx(wilson_interval(5, 5), abs=1e-4)
    lo0, hi0 = cluster_bootstrap_rate([(c, 0, 2) for c in "abcdefg"])  # 7 concepts never recognised, 2 seeds each
    assert lo0 == 0.0 and (lo0, hi0) == pytest.approx(wilson_interval(0, 7), abs=1e-4) and hi0 > 0.3
