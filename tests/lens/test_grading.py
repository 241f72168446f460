"""Automatic grading: a candidate names one of the image's concepts (or a synonym); the null grades the
same candidates against other concepts of the same categories."""
from __future__ import annotations

from layerdream.lens.grading import Grader, accepted_words, normalise, toy_grader


def test_normalise_strips_markers_case_and_punctuation():
    assert normalise("\u2581Red,") == "red"
    assert normalise("Ġsky") == "sky"
    assert normalise("  (winter). ") == "winter"


def test_accepted_words_of_phrases_and_synonyms():
    assert accepted_words("spring (season)") == {"spring"}
    assert {"t-rex", "rex", "tyrannosaurus"} <= accepted_words("T-rex", ["tyrannosaurus"])
    assert "york" in accepted_words("new york") and "new york" in accepted_words("new york")
    assert "the" not in accepted_words("the beatles")


def test_hits_and_the_mismatched_null():
    g = toy_grader()
    labels = {"red", "circle", "sky", "spring"}
    assert g.hits(["is", "Red", "a"], labels) == {"red"}
    assert g.hits(["blue", "square"], labels) == set()
    null = g.mismatched([labels] * 50, seed=0)
    for swapped in null:
        assert len(swapped) == 4 and not swapped & labels
        assert sorted(g.categories[c] for c in swapped) == sorted(g.categories[c] for c in labels)
    assert g.mismatched([labels], seed=3) == g.mismatched([labels], seed=3)


def test_synonyms_count():
    g = Grader({"T-rex": "Animals", "dog": "Animals"}, {"T-rex": ("dinosaur",)})
    assert g.hits(["Dinosaur"], {"T-rex"}) == {"T-rex"}
    assert g.mismatched([{"T-rex"}])[0] == {"dog"}
