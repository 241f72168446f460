"""A lens run on the shipped toy-aligned model: every layer from one forward per batch, rows and
tables consistent with each other, the automatic grading and its null, files written."""
from __future__ import annotations

import csv
from collections import Counter

import pytest
import torch

from layerdream.errors import UserError
from layerdream.lens import images as IM
from layerdream.lens import run as R
from layerdream.lens.corpus import load_corpus
from layerdream.lens.index import build_index

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy():
    import layerdream as ld

    return ld.load("toy-aligned", device="cpu")


@pytest.fixture(scope="module")
def outcome(toy, tmp_path_factory):
    idx = build_index(toy, load_corpus("concepts", limit=300), cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    data = IM.from_toyworld(8, seed=1)
    return R.read_images(toy, data, [1, 2], ["embedding", "logit", "contextual"], k=5, index=idx, progress=False, n_perm=50)


def test_rows_cover_every_image_token_layer_lens_and_rank(outcome):
    assert len(outcome.rows) == 8 * 16 * 2 * 3 * 5
    per = Counter((r["image"], r["layer"], r["lens"], r["token"]) for r in outcome.rows)
    assert set(per.values()) == {5}
    ctx = [r for r in outcome.rows if r["lens"] == "contextual"]
    assert {r["source_layer"] for r in ctx} <= {1, 2, 3, 4}
    assert all(r["source_layer"] == "" for r in outcome.rows if r["lens"] != "contextual")


def test_table_counts_match_the_rows(outcome):
    for t in (t for t in outcome.table if t["category"] == "All"):
        tokens = {(r["image"], r["token"]): 0 for r in outcome.rows if r["lens"] == t["lens"] and r["layer"] == t["layer"]}
        for r in outcome.rows:
            if r["lens"] == t["lens"] and r["layer"] == t["layer"] and r["hit"] == 1:
                tokens[(r["image"], r["token"])] = 1
        assert t["n_tokens"] == len(tokens) == 8 * 16 and t["k"] == sum(tokens.values())
        assert t["ci_lo"] <= t["rate"] <= t["ci_hi"] and t["null_ci_lo"] <= t["null_rate"] <= t["null_ci_hi"]
        assert t["rate_at1"] <= t["rate"]
    cats = {t["category"] for t in outcome.table}
    assert cats == {"All", "colour", "shape", "background", "season"}


def test_aligned_toy_model_reads_its_images(outcome):
    # toy-aligned was trained to align layers 1-2: its readouts name the image's content far above the null
    for t in (t for t in outcome.table if t["category"] == "All" and t["lens"] in ("embedding", "contextual")):
        assert t["ci_lo"] > t["null_ci_hi"], t


def test_sources_and_measures(outcome):
    for kind in ("images", "noise"):  # the noise images are the heatmap's control
        for layer in (1, 2):
            assert abs(sum(s["share"] for s in outcome.sources if s["layer"] == layer and s["images"] == kind) - 1) < 1e-9
    assert sum(s["neighbours"] for s in outcome.sources if s["images"] == "noise" and s["layer"] == 1) == 4 * 16 * 5
    names = {(m["layer"], m["measure"]) for m in outcome.measures}
    assert names == {(l, m) for l in (1, 2) for m in ("retrieval_top1", "linear_cka", "mutual_knn")}
    ret = [m for m in outcome.measures if m["measure"] == "retrieval_top1"][0]
    assert ret["N"] == 20 and ret["n"] == 8 and ret["chance"] == pytest.approx(4 / 20)


def test_files(outcome, tmp_path):
    files = R.save(outcome, tmp_path / "out")
    assert {"lens.csv", "lens_table.csv", "lens_sources.csv", "lens_measures.csv", "lens.json", "lens_rates.png",
            "lens_sources.png"} <= set(files)
    with open(files["lens.csv"]) as fh:
        head = next(csv.reader(fh))
    assert tuple(head) == R.CSV_COLUMNS


def test_token_sample_and_bad_inputs(toy, tmp_path):
    assert R.token_sample(16, 4, 0).tolist() == R.token_sample(16, 4, 0).tolist()
    assert len(R.token_sample(16, 4, 0)) == 4 and R.token_sample(16, "all", 0).tolist() == list(range(16))
    with pytest.raises(UserError):
        R.token_sample(16, 0, 0)
    with pytest.raises(UserError, match="--lens"):
        R.parse_lenses("embedding,tuned")
    empty = tmp_path / "imgs"
    empty.mkdir()
    with pytest.raises(UserError, match="no images"):
        IM.scan_folder(empty, {})
    with pytest.raises(UserError, match="out of range"):
        R.read_images(toy, IM.from_toyworld(1), [5], ["logit"], progress=False)
