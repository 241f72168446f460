import pytest

from layerdream.evaluation import wilson_interval
from layerdream.report.tables import ALL, cosine_table, grid, recognition_table


def result(key, kind="concept", concept="dog", category="Animals", layer=1, seed=0, cos=0.5):
    return {"key": key, "kind": kind, "concept": concept, "category": category, "layer": layer, "seed": seed,
            "source": concept, "image_path": f"{key}.png", "cosine_final": cos}


def verdicts(key, protocol, scores):
    return [{"key": key, "protocol": protocol, "query_index": i, "score": s} for i, s in enumerate(scores)]


def test_rates_intervals_and_majority_images():
    results = [result("a", seed=0), result("b", seed=1), result("c", concept="cat", seed=0),
               result("r", kind="random", seed=0)]
    v = (verdicts("a", "lenient", [1] * 8 + [0] * 2) + verdicts("b", "lenient", [1] * 3 + [0] * 7)
         + verdicts("c", "lenient", [1] * 5 + [0] * 4 + [None]) + verdicts("r", "lenient", [0] * 9 + [1]))
    rows = recognition_table(results, v)
    cats, layers, cells = grid(rows, "concept", "lenient")
    assert cats == ["Animals", ALL] and layers == [1]
    c = cells[("Animals", 1)]
    assert (c["k"], c["n"], c["errors"], c["images"]) == (16, 29, 1, 3)
    assert c["rate"] == pytest.approx(16 / 29)
    assert (c["ci_queries_lo"], c["ci_queries_hi"]) == pytest.approx(wilson_interval(16, 29))
    # a: 8/10 yes, b: 3/10 no, c: 5/9 yes (the error is missing, not 0)
    assert (c["images_recognised"], c["images_scored"]) == (2, 3)
    assert (c["ci_images_lo"], c["ci_images_hi"]) == pytest.approx(wilson_interval(2, 3))
    assert c["seed_rates"] == {"0": pytest.approx(13 / 19, abs=1e-4), "1": 0.3}
    rnd = grid(rows, "random", "lenient")[2][("Animals", 1)]
    assert rnd["rate"] == pytest.approx(0.1)


def test_no_verdicts_no_rows_but_cosines():
    results = [result("a", cos=0.2), result("b", layer=5, cos=0.4), result("r", kind="random", cos=0.0)]
    assert recognition_table(results, []) == []
    cos = {(r["kind"], r["category"], r["layer"]): r["mean_cosine_final"] for r in cosine_table(results)}
    assert cos[("concept", "Animals", 5)] == pytest.approx(0.4)
    assert cos[("random", ALL, 1)] == pytest.approx(0.0)


def test_category_order_follows_the_concept_set():
    results = [result("a", concept="zebra", category="Zoo"), result("b", concept="apple", category="Apples")]
    v = verdicts("a", "stringent", [1]) + verdicts("b", "stringent", [0])
    rows = recognition_table(results, v, categories=["Zoo", "Apples"])
    assert grid(rows, "concept", "stringent")[0] == ["Zoo", "Apples", ALL]


def test_a_one_layer_figure_keeps_its_bands_and_chance_lines():
    """Issue 24 item 13: with one layer the bands had no width and the chance lines one point: gone,
    though the legend listed them. Every drawn series must cover some width."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from layerdream.report.plots import figure3_figure
    from layerdream.report.tables import recognition_table

    results, verdicts = [], []
    for kind, concept, source in (("concept", "dog", "dog"), ("concept", "cat", "cat"), ("random", "dog", "random#0"),
                                  ("shuffled", "cat", "paris")):
        key = f"{kind}|{concept}|{source}|L1|s0"
        results.append({"key": key, "kind": kind, "concept": concept, "category": "Animals", "source": source,
                        "layer": 1, "seed": 0})
        verdicts += [{"key": key, "protocol": "lenient", "query_index": i, "score": int(kind == "concept" or i == 0)}
                     for i in range(4)]
    fig = figure3_figure(recognition_table(results, verdicts), "lenient")
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3 and all(b.get_paths()[0].get_extents().width > 0 for b in bands)
    lines = [l for l in ax.get_lines() if l.get_label() and not l.get_label().startswith("_")]
    assert len(lines) == 3
    for line in lines:
        assert len(line.get_xdata()) > 1 or line.get_marker() not in (None, "None", "")
    plt.close(fig)


def test_the_figure_band_is_the_interval_over_concepts():
    """The shaded band is the bootstrap over concepts (the interval for a claim about concepts), not the
    paper's Wilson over queries, which with many queries per image is far too narrow; the title says so."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from layerdream.report.plots import figure3_figure
    from layerdream.report.tables import recognition_table

    results, verdicts = [], []
    for i, concept in enumerate(["dog", "cat", "cow", "pig"]):  # two concepts always seen, two never: wide over concepts
        key = f"concept|{concept}|{concept}|L1|s0"
        results.append({"key": key, "kind": "concept", "concept": concept, "category": "Animals", "source": concept,
                        "layer": 1, "seed": 0})
        verdicts += [{"key": key, "protocol": "lenient", "query_index": q, "score": int(i < 2)} for q in range(50)]
    rows = recognition_table(results, verdicts)
    cell = next(r for r in rows if r["kind"] == "concept" and r["category"] == "Animals")
    fig = figure3_figure(rows, "lenient")
    band = next(c for c in fig.axes[0].collections if isinstance(c, PolyCollection)).get_paths()[0].get_extents()
    assert band.y0 == pytest.approx(cell["ci_concepts_lo"]) and band.y1 == pytest.approx(cell["ci_concepts_hi"])
    assert band.height > 2 * (cell["ci_queries_hi"] - cell["ci_queries_lo"])  # the query-level one is much narrower
    assert "bootstrap over concepts" in fig._suptitle.get_text()
    plt.close(fig)
