"""`layerdream lens` as a user runs it: on toy-aligned, on a sweep RUN (and its report), and bad inputs
that are one line and exit 2."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from layerdream.cli import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lens-cache")


def _base(cache, *extra):
    return ["lens", "--device", "cpu", "--index-dir", str(cache), "--corpus-limit", "300", "--n-perm", "20", "--quiet", *extra]


def test_cli_on_toy_aligned(cache, tmp_path, capsys):
    out = tmp_path / "lens"
    assert main(_base(cache, "--layer", "1,2", "--n-images", "8", "--tokens", "6", "--out", str(out))) == 0
    printed = capsys.readouterr().out
    assert "contextual layer   2" in printed and "retrieval_top1" in printed and "null" in printed
    with open(out / "lens_table.csv") as fh:
        table = list(csv.DictReader(fh))
    pooled = [r for r in table if r["category"] == "All"]
    assert sorted((r["lens"], r["layer"]) for r in pooled) == sorted((l, s) for l in ("embedding", "logit", "contextual") for s in "12")
    assert all(r["n_tokens"] == str(8 * 6) for r in pooled)
    for name in ("lens.csv", "lens.json", "lens_sources.csv", "lens_measures.csv", "lens_rates.png", "lens_sources.png"):
        assert (out / name).stat().st_size > 0


def _Result(job):  # tests/fake_results.py
    from fake_results import FakeResult

    return FakeResult(job, size=64, cosine_final=0.5)


def test_cli_on_a_sweep_run_and_its_report(cache, tmp_path, capsys):
    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    concepts = tmp_path / "c.yaml"
    concepts.write_text("categories:\n  colour: [red, blue]\n  shape: [circle, square]\n")
    run = tmp_path / "run"
    spec = SweepSpec(model="toy-aligned", concepts=load_concept_set(str(concepts)), layers=[1], seeds=[0], steps=2)
    run_sweep(spec, run, execute=lambda batch: [(job, _Result(job)) for job in batch], progress=False)
    assert main(_base(cache, "--images", str(run), "--layer", "1", "--lens", "embedding,contextual",
                      "--human-sample", "2")) == 0
    with open(run / "lens" / "lens_table.csv") as fh:
        groups = {r["group"] for r in csv.DictReader(fh)}
    assert groups == {"concept@L1", "random@L1", "shuffled@L1"}
    # a person grades the readouts the report then compares with the automatic grading (annotate RUN --lens)
    from layerdream.annotate.lens import LensAnnotation

    people = LensAnnotation(run)
    for item in people.items().values():
        people.record("ada", item.id, item.choices[:1] if item.row["auto"] == "1" else None)
    assert len(people.answers()) == 4  # 2 per lens at layer 1
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "Lens readouts of the RUN" in html and "lens/lens_rates.png" in html and "concept@L1" in html
    assert "Graded by people" in html and "4 answers by 1 annotator(s) (ada)" in html


def test_bad_inputs_are_one_line(cache, tmp_path, capsys):
    empty_corpus = tmp_path / "corpus.txt"
    empty_corpus.write_text("\n# nothing\n")
    no_images = tmp_path / "imgs"
    no_images.mkdir()
    (no_images / "notes.txt").write_text("not an image")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    cases = [
        (["--images", str(broken)], "cannot read image"),
        (["--corpus", str(empty_corpus)], "is empty"),
        (["--layer", "9"], "out of range"),
        (["--images", str(no_images)], "no images found"),
        (["--lens", "tuned"], "--lens"),
        (["--text-layer", "7"], "out of range"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert main(_base(cache, "--n-images", "2", "--out", str(tmp_path / "o"), *extra)) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (extra, err)


def test_corrupt_cache_is_one_line(tmp_path, capsys):
    cache = tmp_path / "c"
    args = ["lens", "--device", "cpu", "--index-dir", str(cache), "--corpus-limit", "50", "--n-images", "2",
            "--layer", "1", "--lens", "contextual", "--no-measures", "--quiet", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    [folder] = [p for p in cache.iterdir() if p.is_dir()]
    (folder / "entries.safetensors").write_bytes(b"garbage")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and "--rebuild-index" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--rebuild-index"]) == 0


def test_folder_images_labelled_by_subfolder(cache, tmp_path):
    images = tmp_path / "photos"
    for name, rgb in {"red": (220, 30, 30), "blue": (30, 60, 230)}.items():
        (images / name).mkdir(parents=True)
        arr = np.broadcast_to(np.array(rgb, dtype=np.uint8), (40, 40, 3))
        Image.fromarray(arr.copy()).save(images / name / "1.png")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(images / "unlabelled.png")
    out = tmp_path / "o"
    assert main(_base(cache, "--images", str(images), "--layer", "1", "--lens", "logit", "--no-measures", "--out", str(out))) == 0
    with open(out / "lens.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["image"] for r in rows} == {"red/1.png", "blue/1.png", "unlabelled.png"}
    assert {r["hit"] for r in rows if r["image"] == "unlabelled.png"} == {""}
    with open(out / "lens_table.csv") as fh:
        assert {r["n_tokens"] for r in csv.DictReader(fh) if r["category"] == "All"} == {str(2 * 16)}
