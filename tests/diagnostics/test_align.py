"""`layerdream align` on a tiny random Gemma 3 that knows the toy world's words (numbers are meaningless
for a random model; the tests check plumbing: labels, controls, files, errors)."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image

from layerdream.cli import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy_vocab_model(tmp_path_factory):
    from layerdream.models.tiny import build_tiny_gemma3, save_tiny_gemma3
    from layerdream.toyworld.world import BASELINE_WORDS, CONCEPTS

    folder = tmp_path_factory.mktemp("tiny-toyvocab")
    model, _, processor = build_tiny_gemma3(CONCEPTS + BASELINE_WORDS, text={"num_hidden_layers": 2})
    save_tiny_gemma3(folder, model, processor)
    (folder / "baseline_words.txt").write_text("\n".join(BASELINE_WORDS) + "\n")
    return folder


def read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_align_on_the_toy_world(toy_vocab_model, tmp_path, capsys):
    out = tmp_path / "align"
    rc = main(["align", "--model", str(toy_vocab_model), "--device", "cpu", "--concepts", "toy", "--layer", "1,2",
               "--n-images", "24", "--n-controls", "4", "--out", str(out)])
    assert rc == 0
    rows = read(out / "alignment.csv")
    assert {r["layer"] for r in rows} == {"1", "2"}
    summary = [r for r in rows if r["concept"] == "All"]
    assert sorted((r["aggregation"], r["layer"]) for r in summary) == [("attention", "1"), ("attention", "2"),
                                                                         ("mean", "1"), ("mean", "2")]
    # the paper's tau for each layer by relative depth: layer 1 of 2 ~ Gemma layer 17 (0.5), layer 2 ~ 34 -> 30 (0.005)
    paper_tau = {"1": 0.5, "2": 0.005}
    assert all(float(r["tau"]) == paper_tau[r["layer"]] for r in rows if r["aggregation"] == "attention")
    for r in rows:
        for key in ("matching", "mismatching", "noise", "gray_noise", "margin"):
            assert math.isfinite(float(r[key])) and -1 <= float(r[key]) <= 1 or key == "margin"
        if r["concept"] != "All":
            assert int(r["n_matching"]) + int(r["n_mismatching"]) == 24
    assert Image.open(out / "alignment.png").size[0] > 100
    import json  # the files say what made them (before: the CSVs alone, no config, seed or versions)

    made = json.loads((out / "alignment.json").read_text())
    assert made["seed"] == 0 and made["layers"] == [1, 2] and made["n_images"] == 24 and made["n_controls"] == 4
    assert made["concepts"] == "toy" and made["versions"]["torch"] and made["dtype"] == "float32"
    printed = capsys.readouterr().out
    assert "margin" in printed and "nan" not in printed and "attention" in printed
    # the judge-free measures from the same forwards, each with N and its permutation null
    measures = read(out / "measures.csv")
    assert sorted((m["layer"], m["measure"]) for m in measures) == sorted(
        (l, m) for l in "12" for m in ("linear_cka", "mutual_knn", "retrieval_top1"))
    ret = [m for m in measures if m["measure"] == "retrieval_top1"]
    assert all(m["N"] == "20" and m["n"] == "24" and float(m["chance"]) == 0.2 and 0 < float(m["p"]) <= 1 for m in ret)
    assert "retrieval_top1 layer   1" in printed


def test_align_with_an_image_folder(toy_vocab_model, tmp_path):
    images = tmp_path / "imgs"
    for name, rgb in {"red": (220, 30, 30), "blue": (30, 60, 230), "not_a_concept": (0, 0, 0)}.items():
        (images / name).mkdir(parents=True)
        for i in range(3):
            arr = np.clip(np.array(rgb)[None, None, :] + np.random.default_rng(i).integers(-20, 20, (40, 40, 3)), 0, 255)
            Image.fromarray(arr.astype("uint8")).save(images / name / f"{i}.png")
    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\nblue,colour\ngreen,colour\n")
    out = tmp_path / "align"
    assert main(["align", "--model", str(toy_vocab_model), "--device", "cpu", "--concepts", str(concepts),
                 "--images", str(images), "--layer", "1", "--n-controls", "2", "--out", str(out)]) == 0
    rows = [r for r in read(out / "alignment.csv") if r["aggregation"] == "mean"]
    assert [r["concept"] for r in rows] == ["red", "blue", "All"]  # green has no images, the stray folder is ignored
    assert rows[0]["n_matching"] == "3" and rows[0]["n_mismatching"] == "3"


def test_align_errors_are_one_line(toy_vocab_model, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["align", "--model", str(toy_vocab_model), "--device", "cpu", "--layer", "1", "--out", str(tmp_path / "o")]
    assert main([*base, "--concepts", "toy", "--images", str(empty)]) == 2
    assert main([*base, "--concepts", "toy", "--images", str(tmp_path / "missing")]) == 2
    assert main([*base, "--concepts", "paper"]) == 2  # no default images outside the toy world
    for line in capsys.readouterr().err.strip().splitlines():
        assert line.startswith("layerdream: error:")


def test_align_defaults_every_layer_and_toy_concepts(toy_vocab_model, tmp_path):
    out = tmp_path / "a"
    assert main(["align", "--model", str(toy_vocab_model), "--device", "cpu", "--n-images", "8", "--n-controls", "2",
                 "--out", str(out)]) == 0
    assert {r["layer"] for r in read(out / "alignment.csv")} == {"1", "2"}  # the tiny model has 2 layers


def _photos(root, colours, size=40):
    for name, rgb in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(2):
            arr = np.clip(np.array(rgb)[None, None, :] + np.random.default_rng(i).integers(-20, 20, (size, size, 3)), 0, 255)
            Image.fromarray(arr.astype("uint8")).save(root / name / f"{i}.png")
    return root


def test_one_concept_is_refused_before_the_model_loads_not_printed_as_nan(tmp_path, capsys):
    """With images of one concept only there is no mismatching image: the margin is undefined (it printed +nan)."""
    images = _photos(tmp_path / "imgs", {"red": (220, 30, 30)})
    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\n")
    rc = main(["align", "--model", str(tmp_path / "no-such-model"), "--concepts", str(concepts), "--images", str(images),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "mismatching" in err[0] and "no-such-model" not in err[0]
    assert not (tmp_path / "o" / "alignment.csv").exists()


def test_photos_are_resized_once_to_the_models_input_size(toy_vocab_model, tmp_path, monkeypatch):
    import layerdream as ld
    from layerdream.diagnostics import align

    images = _photos(tmp_path / "imgs", {"red": (220, 30, 30), "blue": (30, 60, 230)}, size=300)
    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\nblue,colour\n")
    seen = {}
    real = align.alignment_with_measures  # what ld.align calls (the cosines and the judge-free measures)

    def spy(vlm, concepts, categories, data, *args, **kwargs):
        seen["shape"] = tuple(data.images.shape[-2:])
        return real(vlm, concepts, categories, data, *args, **kwargs)

    monkeypatch.setattr(align, "alignment_with_measures", spy)
    assert main(["align", "--model", str(toy_vocab_model), "--device", "cpu", "--concepts", str(concepts), "--images",
                 str(images), "--layer", "1", "--n-controls", "2", "--out", str(tmp_path / "o")]) == 0
    vlm = ld.load(str(toy_vocab_model), device="cpu")
    size = vlm.image_size
    assert seen["shape"] == (size, size) and size != 224
    direct = align.images_from_dir(images, ["red", "blue"], vlm)
    with Image.open(images / "blue" / "0.png") as im:  # subfolders in sorted order: blue first
        theirs = vlm.processor.image_processor(images=im.convert("RGB"), return_tensors="pt")["pixel_values"]
    # the model sees exactly what its processor makes of the photo (Gemma 3: BILINEAR, not BICUBIC; issue 19.5;
    # every family: tests/models/test_families.py::test_photos_are_resized_as_the_processor_resizes_them)
    ours = vlm.adapter.preprocess(direct.images[:1])["pixel_values"]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_concept_options_as_in_synthesize(toy_vocab_model, tmp_path, capsys):
    """--baseline and --prompt-format change the concept vectors exactly as in `synthesize`."""
    from layerdream.toyworld.world import BASELINE_WORDS

    base = ["align", "--model", str(toy_vocab_model), "--device", "cpu", "--layer", "1", "--n-images", "12",
            "--n-controls", "2", "--aggregation", "mean"]
    words = tmp_path / "words.txt"
    words.write_text("\n".join(BASELINE_WORDS[:3]) + "\n")
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--baseline", str(words), "--out", str(tmp_path / "b")]) == 0
    assert main([*base, "--prompt-format", "raw", "--out", str(tmp_path / "c")]) == 0
    a, b, c = (read(tmp_path / x / "alignment.csv") for x in "abc")
    assert {r["aggregation"] for r in a} == {"mean"}
    assert a[0]["matching"] != b[0]["matching"] and a[0]["matching"] != c[0]["matching"]
    capsys.readouterr()
    assert main([*base, "--baseline", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "d")]) == 2
    assert "--baseline" in capsys.readouterr().err
