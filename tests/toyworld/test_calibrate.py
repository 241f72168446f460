"""`layerdream toyworld calibrate`: judged synthesis tables, and an interrupted run resumes."""
import json

import pytest
import torch

import layerdream as ld
from layerdream.errors import UserError
from layerdream.cli import main
from layerdream.toyworld import calibrate, world

torch.set_num_threads(1)


def test_wilson_interval_brackets_the_rate():
    lo, hi = calibrate.wilson(6, 12)
    assert lo < 0.5 < hi and 0 < lo and hi < 1
    assert calibrate.wilson(0, 0) == (0.0, 1.0)


def test_calibrate_resumes_without_resynthesising(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cal"
    args = ["toyworld", "calibrate", "--layer", "1", "--seeds", "2", "--random", "1", "--steps", "2", "--out", str(out)]
    calls = []
    real = ld.synthesize

    def counting(*a, **kw):
        calls.append(kw["seeds"])
        if len(calls) == 2:  # "interrupt" the first run after its first (layer, seed) cell
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(ld, "synthesize", counting)
    assert main(args) == 130  # Ctrl-C: the CLI says how to resume
    partial = json.loads((out / "calibration.partial.json").read_text())
    assert {r["seed"] for r in partial["records"]} == {0} and len(partial["records"]) == len(world.CONCEPTS) + 1

    calls.clear()
    assert main(args) == 0
    assert calls == [[1]]  # seed 0 came from the partial file, only seed 1 was synthesised
    report = json.loads((out / "calibration.json").read_text())
    assert len(report["records"]) == 2 * (len(world.CONCEPTS) + 1)
    assert [r["seed"] for r in report["records"]][0] == 0
    assert not (out / "calibration.partial.json").exists()
    cells = report["summary"]["1"]["concept"]["categories"]
    assert sum(c["n"] for c in cells.values()) == 2 * len(world.CONCEPTS)
    md = (out / "calibration.md").read_text()
    assert "| 1 | concept |" in md and "| 1 | judge base rate |" in md
    cell = report["summary"]["1"]["concept"]["categories"]["colour"]
    assert 0 <= cell["base_rate"] <= 1 and 0 <= cell["p_above_base"] <= 1
    assert 0 <= cell["mismatch_rate"] <= 1 and "| 1 | mismatched targets |" in md

    calls.clear()  # a finished calibration re-summarises from its calibration.json, synthesising nothing
    assert main(args) == 0 and calls == []
    assert json.loads((out / "calibration.json").read_text())["records"] == report["records"]


def test_exact_binomial_tail():
    assert abs(calibrate.p_at_least(0, 10, 0.3) - 1.0) < 1e-12
    assert abs(calibrate.p_at_least(12, 12, 0.25) - 0.25**12) < 1e-15
    assert calibrate.p_at_least(7, 12, 0.25) < 0.05 < calibrate.p_at_least(6, 12, 0.25)  # 0.014, 0.054


def test_earlier_run_with_other_settings_is_refused_not_reused_or_overwritten(tmp_path, capsys):
    partial = tmp_path / "p.json"
    partial.write_text(json.dumps({"model": "toy-aligned", "n_random": 1, "synthesis": {"steps": 3}, "records": [{}]}))
    for model, steps in (("toy-aligned", 2), ("toy-plain", 3)):
        with pytest.raises(UserError, match="other settings"):
            calibrate.resumable_records(partial, model, 1, {"steps": steps})
    assert calibrate.resumable_records(partial, "toy-aligned", 1, {"steps": 3}) == [{}]
    assert calibrate.resumable_records(tmp_path / "absent.json", "toy-aligned", 1, {}) == []

    out = tmp_path / "cal"
    out.mkdir()
    before = '{"model": "toy-plain", "n_random": 5, "synthesis": {}, "records": []}'
    (out / "calibration.json").write_text(before)
    assert main(["toyworld", "calibrate", "--layer", "1", "--seeds", "1", "--random", "1", "--steps", "2",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0]
    assert (out / "calibration.json").read_text() == before  # the earlier measurement is untouched
    (out / "calibration.json").write_text("{not json")
    assert main(["toyworld", "calibrate", "--layer", "1", "--seeds", "1", "--out", str(out)]) == 2
    assert main(["toyworld", "calibrate", "--layer", "1,9", "--seeds", "1", "--out", str(tmp_path / "c2")]) == 2
    assert "layer 9 is out of range" in capsys.readouterr().err


def test_mismatched_target_rate_catches_syntheses_that_all_look_alike():
    """A model whose every image is judged 'green' hits 'green' always, and the mismatch null says so."""
    recs = [{"layer": 1, "seed": 0, "kind": "concept", "concept": c, "category": world.concept_category(c),
             "judged": {"colour": "green", "shape": "circle", "background": "sky", "season": "spring"},
             "hit": c in ("green", "circle", "sky", "spring")} for c in world.CONCEPTS]
    recs += [{"layer": 1, "seed": 0, "kind": "random", "concept": "red", "category": "colour",
              "judged": {"colour": "red", "shape": "square", "background": "grass", "season": "winter"}, "hit": True}]
    row = calibrate.summarise(recs, [1])["1"]
    assert row["per_concept"]["green"]["rate"] == 1.0 and row["per_concept"]["green"]["mismatch_rate"] == 1.0
    colour = row["concept"]["categories"]["colour"]
    assert abs(colour["rate"] - colour["mismatch_rate"]) < 1e-9 and colour["p_above_mismatch"] > 0.5
    sign = row["concepts_above_base"]  # green, circle, sky, spring beat a control judged red/square/grass/winter
    assert sign["k"] == 4 and sign["of"] == len(world.CONCEPTS) and sign["p_sign_test"] > 0.5


def test_calibrate_uses_the_toy_worlds_preset_for_a_plain_transformers_folder(tmp_path, monkeypatch):
    """A study's checkpoint saved as a plain transformers folder (no toyworld.json, so ld.synthesize's own
    default would be the real-checkpoint preset, paper) is still synthesised with the preset the toy world
    was calibrated with, as the report says."""
    import shutil

    from layerdream.synthesis.presets import is_toy_model
    from layerdream.toyworld import checkpoint_path

    folder = tmp_path / "plain"
    folder.mkdir()
    for f in checkpoint_path("toy-aligned").iterdir():
        if f.name != "toyworld.json":
            shutil.copy(f, folder)
    assert not is_toy_model(folder)
    used, real = [], ld.synthesize

    def recording(vlm, *a, **kw):
        results = real(vlm, *a, **kw)
        used.append((kw.get("preset"), results[0].config["preset_rule"]))
        return results

    monkeypatch.setattr(ld, "synthesize", recording)
    report = calibrate.run(str(folder), layers=(1,), seeds=(0,), n_random=1, steps=2, progress=lambda s: None)
    assert used == [("fast", "given")]  # not the default the folder alone would get (paper, for a real checkpoint)
    assert len(report["records"]) == len(world.CONCEPTS) + 1
    assert "preset fast" in calibrate.markdown(report)
