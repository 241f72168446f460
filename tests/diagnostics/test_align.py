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
    assert len(summary) == 2
    for r in rows:
        for key in ("matching", "mismatching", "noise", "gray_noise", "margin"):
            assert math.isfinite(float(r[key])) and -1 <= float(r[key]) <= 1 or key == "margin"
        if r["concept"] != "All":
            assert int(r["n_matching"]) + int(r["n_mismatching"]) == 24
    assert Image.open(out / "alignment.png").size[0] > 100
    assert "margin" in capsys.readouterr().out


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
    rows = read(out / "alignment.csv")
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
