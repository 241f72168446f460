"""People grading lens readouts (``layerdream annotate DIR --lens``): the page over real HTTP (blind,
resumable, images checked by sha256, ticks validated), and the report's rates and Cohen's kappa
against a hand computation (people vs automatic grading, vs the LLM judge, and between two people)."""
from __future__ import annotations

import csv
import json
import os

import pytest
import torch

if not os.environ.get("CI"):
    pytest.importorskip("starlette", reason="the annotate extra is not installed: pip install 'layerdream[annotate]'")
    pytest.importorskip("uvicorn", reason="the annotate extra is not installed: pip install 'layerdream[annotate]'")

from annotate_fixtures import serving  # noqa: E402
from test_app_http import Browserless, item_of, raw_get  # noqa: E402

from layerdream.annotate.lens import LensAnnotation  # noqa: E402
from layerdream.cli import main  # noqa: E402
from layerdream.lens.human import write_items  # noqa: E402
from layerdream.lens.judging import Readout  # noqa: E402
from layerdream.report.lens import lens_html, load_lens  # noqa: E402

# six readouts: (name, image, lens, layer, token, candidates, automatic grade)
ITEMS = [("a", "img0", "logit", 1, 0, ["sky", "red", "sky"], 1), ("b", "img0", "logit", 1, 1, ["on", "is"], 0),
         ("c", "img1", "logit", 1, 2, ["blue", "a"], 1), ("d", "img1", "embedding", 2, 3, ["<script>x</script>", "the"], 0),
         ("e", "img0", "embedding", 2, 0, ["cat", "dog"], 1), ("f", "img1", "embedding", 2, 1, ["of", "an"], 0)]


def _images(shade: float = 0.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {name: torch.rand(3, 16, 16, generator=g).mul(1 - shade) for name in ("img0", "img1")}


def _write(folder, images) -> dict[str, str]:
    readouts, rows = [], []
    for _, image, lens, layer, token, cands, auto in ITEMS:
        readouts.append(Readout(image, images[image], layer, token, token // 2, token % 2, lens, cands))
        rows += [{"image": image, "group": "folder", "layer": layer, "token": token, "lens": lens,
                  "hit": int(auto and rank == 0)} for rank in range(len(cands))]
    write_items(folder, readouts, rows, (2, 2))
    (folder / "lens.json").write_text(json.dumps({"model": "tiny", "n_images": 2, "k": 2, "tokens": "all"}))
    return {name: f"{image}|{layer}|{token}|{lens}" for name, image, lens, layer, token, _, _ in ITEMS}


@pytest.fixture
def lens_dir(tmp_path):
    folder = tmp_path / "lens"
    folder.mkdir()
    _write(folder, _images())
    return folder


def _by_key(lens: LensAnnotation) -> dict[str, str]:
    return {it.key: it.id for it in lens.items().values()}


def test_the_page_is_blind_resumable_and_checks_what_it_serves(lens_dir):
    lens = LensAnnotation(lens_dir)
    with serving(lens) as base:
        c = Browserless(base)
        c.call("/name", {"name": "ada"})
        status, _, page = c.call("/")
        assert status == 200 and b"patch 1 of 6" in page
        item = item_of(page)
        row = lens.items()[item].row
        cands = json.loads(row["candidates"])
        for shown in dict.fromkeys(cands):
            assert f'value="{shown}"'.encode() in page or b"&lt;script&gt;" in page
        assert page.count(b'name="choice"') == len(set(cands))  # a repeated candidate is offered once
        for secret in (row["image"], row["lens"], row["key"], row["png"], row["png_sha256"], "layer ", "<script>x"):
            assert secret.encode() not in page, secret
        status, headers, png = c.call(f"/image/{item}")
        assert status == 200 and png.startswith(b"\x89PNG") and headers["content-type"] == "image/png"
        assert raw_get(base, "/image/" + row["png"])[0] == 404 and raw_get(base, "/image/..%2fitems.csv")[0] == 404
        assert c.call("/answer", {"item": item})[0] == 400  # nothing ticked, "none" not chosen
        assert c.call("/answer", {"item": item, "choice": "not-a-candidate"})[0] == 400
        status, _, page = c.call("/answer", {"item": item, "choice": cands[0]})
        assert status == 200 and b"patch 2 of 6" in page
        second = item_of(page)
        assert c.call("/answer", {"item": second, "none": "1"})[0] == 200
        # another browser, the same name: resumes at the third; a restarted server too
        other = Browserless(base)
        other.call("/name", {"name": "ada"})
        assert b"patch 3 of 6" in other.call("/")[2]
    answers = {a["key"]: a for a in lens.answers()}
    assert answers[row["key"]]["interpretable"] == 1 and json.loads(answers[row["key"]]["chosen"]) == [cands[0]]
    assert answers[lens.items()[second].key]["interpretable"] == 0 and answers[row["key"]]["judge"] == "human:ada"
    with serving(LensAnnotation(lens_dir)) as base:
        c = Browserless(base)
        c.call("/name", {"name": "ada"})
        assert b"patch 3 of 6" in c.call("/")[2]
        # an image written again (another run) is asked again; a file changed behind the manifest is not served
        _write(lens_dir, _images(shade=0.3))
        page = c.call("/")[2]
        assert b"patch 1 of 6" in page  # both answers were about the images as they were
        item = item_of(page)
        (lens_dir / "lens_human" / lens.items()[item].row["png"]).write_bytes(b"\x89PNG changed")
        assert c.call(f"/image/{item}")[0] == 404


def test_report_rates_and_kappa_match_a_hand_computation(lens_dir):
    keys = _write(lens_dir, _images())
    lens = LensAnnotation(lens_dir)
    ids = _by_key(lens)
    cand = {name: c for name, *_, c, _ in ITEMS}
    ada = {"a": 1, "b": 1, "c": 0, "d": 0, "e": 1, "f": 0}
    bob = {"a": 1, "b": 0, "c": 1, "d": 1}
    for who, said in (("ada", ada), ("bob", bob)):
        for name, yes in said.items():
            lens.record(who, ids[keys[name]], [cand[name][0]] if yes else None)
    with open(lens_dir / "lens_judged.csv", "w", newline="") as fh:  # the LLM judge graded the logit readouts only
        w = csv.DictWriter(fh, ["image", "layer", "token", "lens", "interpretable", "judge"])
        w.writeheader()
        for name, yes in (("a", 1), ("b", 1), ("c", 0)):
            image, layer, token, lensname = keys[name].split("|")
            w.writerow({"image": image, "layer": layer, "token": token, "lens": lensname, "interpretable": yes, "judge": "hf:x"})
    data = load_lens(lens_dir.parent)  # RUN/lens: the report reads the folder alone
    h = data["humans"]
    assert h["answers"] == 10 and h["annotators"] == ["human:ada", "human:bob"]
    kappa = {(r["humans"], r["other"], r["lens"]): r for r in h["kappa"]}
    # by hand: all annotators vs automatic, 10 pairs: both 4, people only 2 (ada b, bob d), auto only 1 (ada c), neither 3
    # p_o = .7, p_e = .6*.5 + .4*.5 = .5 -> kappa .4
    r = kappa[("all annotators", "automatic", "all")]
    assert (r["n"], r["both_yes"], r["first_only"], r["second_only"], r["neither"]) == (10, 4, 2, 1, 3)
    assert r["kappa"] == pytest.approx(0.4)
    # vs the judge (logit only, 6 pairs): both 3, p_o 4/6, p_e (4/6)^2 + (2/6)^2 = 5/9 -> kappa 1/4
    assert kappa[("all annotators", "judge", "all")]["kappa"] == pytest.approx(0.25)
    assert ("all annotators", "judge", "embedding") not in kappa
    # ada vs bob on a-d: ada 1100, bob 1011: p_o 1/4, p_e .5*.75 + .5*.25 = .5 -> kappa -1/2
    assert kappa[("human:ada", "human:bob", "all")]["kappa"] == pytest.approx(-0.5)
    rates = {(r["lens"], r["layer"]): r for r in h["rates"]}
    logit = rates[("logit", 1)]
    assert (logit["k"], logit["n"], logit["readouts"]) == (4, 6, 3)
    assert logit["auto_rate"] == pytest.approx(2 / 3) and logit["judge_rate"] == pytest.approx(2 / 3)
    assert logit["ci_lo"] < 4 / 6 < logit["ci_hi"]
    html = lens_html(data, lambda p: p)
    assert "Graded by people" in html and "+0.40" in html and "-0.50" in html and "<script>" not in html


def test_cli_lens_annotate_refuses_bad_input(tmp_path, lens_dir, capsys):
    assert main(["annotate", str(tmp_path / "nothing"), "--lens"]) == 2
    assert "--human-sample" in capsys.readouterr().err
    assert main(["annotate", str(lens_dir), "--lens", "--choices"]) == 2
    assert main(["annotate", str(lens_dir), "--lens", "--protocol", "lenient"]) == 2


def test_a_broken_lens_folder_is_one_line(lens_dir, capsys):
    manifest = lens_dir / "lens_human" / "items.csv"
    good = manifest.read_bytes()
    manifest.write_text("key,whatever\nx,y\n")
    assert main(["annotate", str(lens_dir), "--lens"]) == 2
    assert "not a manifest of readouts" in capsys.readouterr().err
    manifest.write_bytes(good)
    (lens_dir / "lens_human" / "answers.sqlite").mkdir()  # the answers file cannot be written
    assert main(["annotate", str(lens_dir), "--lens"]) == 2
    assert "cannot write the answers file" in capsys.readouterr().err
