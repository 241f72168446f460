import pytest

from layerdream.errors import UserError
from layerdream.sweep.conceptsets import load_concept_set


def test_paper_set_has_105_concepts_in_14_categories():
    cs = load_concept_set("paper")
    assert len(cs.concepts) == 105
    assert len(cs.categories) == 14
    assert cs.by_name()["T-rex"].category == "Animals"
    assert "tyrannosaurus" in cs.by_name()["T-rex"].synonyms
    assert cs.categories[0] == "Animals" and cs.categories[-1] == "Physical objects"


def test_toy_set_matches_the_world():
    from layerdream.toyworld.world import CATEGORIES

    cs = load_concept_set("toy")
    assert [c.name for c in cs.concepts] == [n for names in CATEGORIES.values() for n in names]
    assert cs.categories == list(CATEGORIES)


def test_yaml_forms_and_synonyms(small_set_file):
    cs = load_concept_set(str(small_set_file))
    assert cs.name == "concepts"
    assert [c.name for c in cs.concepts] == ["red", "blue", "green", "circle", "square"]
    assert cs.by_name()["green"].synonyms == ("lime",)
    assert cs.categories == ["colour", "shape"]


def test_csv_with_synonyms(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("# comment\nconcept,category,synonyms\nT-rex,Animals,tyrannosaurus;dinosaur\nfrog,Animals,\nparis,Cities,\n")
    cs = load_concept_set(str(path))
    assert [(c.name, c.category) for c in cs.concepts] == [("T-rex", "Animals"), ("frog", "Animals"), ("paris", "Cities")]
    assert cs.by_name()["T-rex"].synonyms == ("tyrannosaurus", "dinosaur")
    assert cs.by_name()["frog"].synonyms == ()


def test_same_content_same_fingerprint_yaml_vs_csv(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("categories:\n  A: [x, y]\n  B: [z]\n")
    c = tmp_path / "a.csv"
    c.write_text("concept,category\nx,A\ny,A\nz,B\n")
    assert load_concept_set(str(y)).fingerprint() == load_concept_set(str(c)).fingerprint()
    c.write_text("concept,category\nx,A\ny,B\nz,B\n")
    assert load_concept_set(str(y)).fingerprint() != load_concept_set(str(c)).fingerprint()


@pytest.mark.parametrize("content,suffix,fragment", [
    ("concept,kind\nx,A\n", ".csv", "'concept' and 'category'"),
    ("- a\n- b\n", ".yaml", "expected a mapping"),
    ("categories:\n  A: [x, x]\n", ".yaml", "appears twice"),
    ("categories: {A: [x\n", ".yaml", "not valid YAML"),
    ("x", ".txt", "unknown file type"),
    ("categories:\n  A: [{name: dog, synonyms: {a: b}}]\n", ".yaml", "a word or a list of words"),
    ("categories:\n  A: [[x, y]]\n", ".yaml", "is not a concept"),
    ("categories:\n  A: [\"\\u200b\", dog]\n", ".yaml", "shows nothing"),  # a zero-width space only (issue 24.15)
    ("concept,category\n\u2063\u200d,A\n", ".csv", "shows nothing"),
])
def test_bad_files_are_one_line_user_errors(tmp_path, content, suffix, fragment):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(UserError) as err:
        load_concept_set(str(path))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_yaml_scalars_stay_the_text_the_user_wrote(tmp_path):
    """YAML 1.1 made NO False, 123 an int, true True and null None (issue 24.11): concepts are text."""
    path = tmp_path / "c.yaml"
    path.write_text("categories:\n  country: [NO, SE, dog]\n  other: [123, true, null, 1.50, 010, ~]\n"
                    "  more: [{name: yes, synonyms: 5}, {name: off, synonyms: [on, 2]}]\n")
    cs = load_concept_set(str(path))
    assert [c.name for c in cs.concepts] == ["NO", "SE", "dog", "123", "true", "null", "1.50", "010", "~", "yes", "off"]
    assert cs.by_name()["yes"].synonyms == ("5",) and cs.by_name()["off"].synonyms == ("on", "2")


def test_missing_file():
    with pytest.raises(UserError, match="no such file"):
        load_concept_set("/nonexistent/concepts.yaml")


@pytest.mark.parametrize("suffix,text", [(".csv", "concept,category\nx,A\ny,B\n"), (".yaml", "categories:\n  A: [x]\n  B: [y]\n")])
def test_a_byte_order_mark_is_not_part_of_the_file(tmp_path, suffix, text):
    """Excel's "CSV UTF-8" starts with a BOM; the header 'concept' must still be found (issue 19 item 14)."""
    path = tmp_path / f"c{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    cs = load_concept_set(str(path))
    assert [(c.name, c.category) for c in cs.concepts] == [("x", "A"), ("y", "B")]
