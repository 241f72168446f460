"""`layerdream synthesize` as a user runs it: files, fields, exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from layerdream.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "layerdream.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(cwd or "/tmp")})


def test_synthesize_writes_png_and_json_per_concept_layer_seed(tiny_folder, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("synthesize", "red", "T-rex", "--model", str(tiny_folder), "--layer", "1,2", "--seed", "0,1",
                   "--steps", "5", "--out", str(out), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stems = [f"{c}_L{l}_s{s}" for c in ("red", "t_rex_0b6e84c1") for l in (1, 2) for s in (0, 1)]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{s}.png" for s in stems] + [f"{s}.json" for s in stems])
    meta = json.loads((out / "t_rex_0b6e84c1_L2_s1.json").read_text())
    for key in ("concept", "layer", "seed", "model", "preset", "steps", "cosine_initial", "cosine_final", "seconds",
                "config", "versions"):
        assert key in meta
    # a real checkpoint (not a toy model): the paper's preset by default, and the rule says so (issue 19 item 1)
    assert (meta["concept"], meta["layer"], meta["seed"], meta["steps"], meta["preset"]) == ("T-rex", 2, 1, 5, "paper")
    assert meta["config"]["preset_rule"].startswith("default for a real checkpoint")
    assert meta["config"]["canvas"] == 16 and meta["config"]["copies"] == 8 and "torch" in meta["versions"]
    assert Image.open(out / "red_L1_s0.png").size == (16, 16)
    assert "8 image(s)" in proc.stdout and "preset paper (default for a real checkpoint" in proc.stdout


def test_bad_model_is_one_line_exit_2_no_traceback(tmp_path):
    proc = run_cli("synthesize", "red", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--layer", "9"], "out of range"),
    (["--layer", "0"], "out of range"),
    (["--layer", "1,x"], "comma-separated integers"),
    (["--preset", "slow"], "unknown preset"),
    (["--steps", "0"], "--steps must be a positive"),
    (["--steps", "-3"], "--steps must be a positive"),
    (["--negative", "blue=lots"], "must be a number"),
    (["--seed", "99999999999999999999"], "--seed 99999999999999999999 is out of range"),
    (["--seed", "-1"], "--seed -1 is out of range"),
    (["--snapshot", "500", "--steps", "5"], "--snapshot 500 is outside the run's steps 1..5"),
    (["--max-memory", "plenty"], "is not a size"),
    (["--batch", "0"], "--batch must be at least 1"),
])
def test_bad_options(tiny_folder, tmp_path, capsys, args, message):
    code = _main(["synthesize", "red", "--model", str(tiny_folder), "--out", str(tmp_path / "o"), "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().count("\n") == 0
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing half-written


@pytest.mark.parametrize("concept,message", [("", "empty concept"), ("jupiter", "vocabulary")])
def test_bad_concepts(tiny_folder, tmp_path, capsys, concept, message):
    code = _main(["synthesize", "red", concept, "--model", str(tiny_folder), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unwritable_out(tiny_folder, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = _main(["synthesize", "red", "--model", str(tiny_folder), "--out", str(blocker / "sub")])
    assert code == 2 and "cannot write to --out" in capsys.readouterr().err


def test_unknown_model_type(tiny_folder, tmp_path, capsys):
    folder = tmp_path / "weird"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "mamba"}))
    code = _main(["synthesize", "red", "--model", str(folder), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "supported families: " in err and "gemma3" in err and "docs/adding-a-model.md" in err


def _main(argv):
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse errors
        return exit_.code


def test_rerun_skips_finished_images_and_changed_settings_redo(tiny_folder, tmp_path, capsys):
    argv = ["synthesize", "red", "blue", "--model", str(tiny_folder), "--layer", "1", "--seed", "0,1", "--steps", "3",
            "--out", str(tmp_path), "--quiet"]
    assert _main(argv) == 0
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    (tmp_path / "blue_L1_s1.json").unlink()  # as if interrupted before this result's JSON landed
    capsys.readouterr()
    assert _main(argv) == 0
    out = capsys.readouterr().out
    assert "1 image(s)" in out and "3 already in" in out
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert after["red_L1_s0.png"] == first["red_L1_s0.png"] and "blue_L1_s1.json" in after
    assert _main(argv[:-1] + ["--lr", "0.5", "--quiet"]) == 0  # other settings: nothing is reused
    assert "4 image(s)" in capsys.readouterr().out


def test_file_names_are_unique_per_concept_and_readable(tiny_vlm, tmp_path):
    """"red" and "Red" (or "red!") must never overwrite each other, nor pass for each other on resume."""
    from layerdream.io import file_stem
    from layerdream.synthesis.result import stem

    assert file_stem("red") == "red" and file_stem("Ölbaum").startswith("ölbaum_")
    names = {stem(c, 1, 0) for c in ("red", "Red", "red!", "red ", "spring (season)", "spring_season")}
    assert len(names) == 6
    assert len(file_stem("very " * 200)) <= 70  # a long phrase still makes a legal file name


def test_same_slug_concepts_keep_their_own_files_and_resume_correctly(tiny_folder, tmp_path, capsys):
    out = tmp_path / "o"
    assert _main(["synthesize", "red", "RED", "--model", str(tiny_folder), "--steps", "3", "--out", str(out), "--quiet"]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 2
    metas = {json.loads(p.read_text())["concept"] for p in out.glob("*.json")}
    assert metas == {"red", "RED"}
    capsys.readouterr()
    assert _main(["synthesize", "RED", "--model", str(tiny_folder), "--steps", "3", "--out", str(out), "--quiet"]) == 0
    assert "already in" in capsys.readouterr().out  # its own earlier file, found again


def test_unknown_word_inside_a_concept_is_refused(tiny_folder, tmp_path, capsys):
    code = _main(["synthesize", "red jupiter", "--model", str(tiny_folder), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "'jupiter'" in err and "<unk>" in err


def test_deterministic_flag_is_recorded_and_changes_no_image(tiny_folder, tmp_path):
    import os

    a, b = tmp_path / "a", tmp_path / "b"
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    for out, extra in ((a, []), (b, ["--deterministic"])):
        proc = subprocess.run([sys.executable, "-m", "layerdream.cli", "synthesize", "red", "--model", str(tiny_folder),
                               "--steps", "3", "--quiet", "--out", str(out), *extra], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
    ma, mb = (json.loads((d / "red_L1_s0.json").read_text())["config"] for d in (a, b))
    assert (ma["deterministic"], mb["deterministic"]) == (False, True) and mb["threads"] >= 1
    assert ma["fingerprint"] == mb["fingerprint"]  # recorded, not part of what the image is
    assert (a / "red_L1_s0.png").read_bytes() == (b / "red_L1_s0.png").read_bytes()
