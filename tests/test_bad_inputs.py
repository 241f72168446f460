"""Bad input -> one line on stderr, exit 2, no traceback, and nothing changed: one row per bad input.

Each row is (argv, expected fragment of the one-line message, options). Placeholders in argv:
``{run}`` a small judged sweep RUN (made without a model), ``{tmp}`` the test's folder, ``{txt}`` a text
file, ``{png}`` a real PNG. Options: ``setup`` (a function of the RUN folder, run before the command),
``readonly`` (RUN is mounted read-only for the command, in a user namespace). Every file under
``{tmp}`` is hashed before and after: a refused command must not change any of them.

To cover the next bad input, add one line to ``ROWS``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layerdream.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONCEPTS = "categories:\n  colour: [red, blue]\n  shape: [circle, square]\n"  # toy-world words: the toy judge knows them


def _delete_one_png(run: Path) -> None:
    next((run / "images").rglob("*.png")).unlink()


def _change_one_png(run: Path) -> None:
    png = next((run / "images").rglob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")


def _unjudged_and_one_png_deleted(run: Path) -> None:
    import sqlite3

    with sqlite3.connect(run / "sweep.sqlite") as conn:
        conn.execute("DELETE FROM verdicts")
    conn.close()
    _delete_one_png(run)


def _one_concept_photos(run: Path) -> None:
    from PIL import Image

    (run.parent / "photos" / "red").mkdir(parents=True)
    Image.new("RGB", (20, 20), (220, 30, 30)).save(run.parent / "photos" / "red" / "1.png")
    (run.parent / "one.csv").write_text("concept,category\nred,colour\n")


def _concepts_file(run: Path) -> None:
    (run.parent / "c.yaml").write_text(CONCEPTS)


def _sql(run: Path, *statements: str) -> None:
    import sqlite3

    conn = sqlite3.connect(run / "sweep.sqlite")
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


def _wal_left_behind(run: Path) -> None:
    """A RUN whose last writer left its -wal/-shm files (a killed sweep, a copy taken while it ran): SQLite then
    opens it read-write even on a read-only file system, and fails only at the first write."""
    code = ("import os, sqlite3; c = sqlite3.connect(os.path.join(%r, 'sweep.sqlite')); c.execute('PRAGMA journal_mode=WAL'); "
            "c.execute(\"INSERT OR REPLACE INTO meta VALUES ('touched', '1')\"); c.commit(); os._exit(0)") % str(run)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (run / "sweep.sqlite-wal").exists()


def _settings_lost(run: Path) -> None:
    _sql(run, "DELETE FROM meta WHERE key='settings'")
    _concepts_file(run)


def _zero_byte_database(run: Path) -> None:
    (run / "sweep.sqlite").write_bytes(b"")
    _concepts_file(run)


def _corrupt_concepts_meta(run: Path) -> None:
    _sql(run, "UPDATE meta SET value='{\"name\": \"c\", \"concepts\": [' WHERE key='concepts'")


def _image_path_outside_run(run: Path) -> None:
    """A RUN received from someone: its database names a file outside RUN, with that file's own sha256."""
    secret = run.parent / "notes.txt"
    _sql(run, f"UPDATE results SET image_path='{secret}', image_sha256='{hashlib.sha256(secret.read_bytes()).hexdigest()}' "
              "WHERE key=(SELECT MIN(key) FROM results)")


def _image_path_climbs_out(run: Path) -> None:
    secret = run.parent / "notes.txt"
    _sql(run, f"UPDATE results SET image_path='../notes.txt', image_sha256='{hashlib.sha256(secret.read_bytes()).hexdigest()}' "
              "WHERE key=(SELECT MIN(key) FROM results)")


def _binary_file(run: Path) -> None:
    (run.parent / "words.bin").write_bytes(bytes(range(256)) * 4)


ROWS = [
    # data loss: report --out onto a file that is not an earlier report
    (["report", "{run}", "--out", "{run}/sweep.sqlite"], "is not a layerdream report", {}),
    (["report", "{run}", "--format", "csv", "--out", "{run}/sweep.sqlite"], "is not a layerdream report", {}),
    (["report", "{run}", "--format", "json", "--out", "{txt}"], "is not a layerdream report", {}),
    (["report", "{run}", "--embed", "--out", "{txt}"], "is not a layerdream report", {}),
    # data loss: a failed (re-)judge leaves every stored verdict as it was
    (["judge", "{run}", "--judge", "toy", "--rejudge"], "missing", {"setup": _delete_one_png}),
    (["judge", "{run}", "--judge", "toy", "--rejudge"], "changed since the sweep", {"setup": _change_one_png}),
    # tracebacks before: one line, before any compute
    (["judge", "{run}", "--judge", "toy"], "re-run the same `layerdream sweep`", {"setup": _unjudged_and_one_png_deleted}),
    (["judge-image", "{txt}", "--concept", "red", "--judge", "toy"], "is not an image", {}),
    (["report", "{run}", "--embed", "--out", "{tmp}"], "is a folder", {}),
    (["report", "{run}", "--out", "{run}/images"], "is a folder", {}),
    (["report", "{run}", "--embed"], "Read-only file system", {"readonly": True}),
    (["judge", "{run}", "--judge", "toy"], "read-only", {"readonly": True}),
    # silent results
    (["align", "--concepts", "{tmp}/one.csv", "--images", "{tmp}/photos", "--out", "{tmp}/align"], "no mismatching image",
     {"setup": _one_concept_photos}),
    (["sweep", "--concepts", "{tmp}/c.yaml", "--preset", "slow", "--out", "{tmp}/new"], "unknown preset",
     {"setup": _concepts_file}),
    (["judge", "{run}", "--judge", "toy", "--grader", "matcher"], "scores itself", {}),
    (["sweep", "--concepts", "{tmp}/c.yaml", "--no-controls", "--controls-per-category", "3", "--out", "{tmp}/new"],
     "with --no-controls", {"setup": _concepts_file}),
    # a local-looking --model fails at once (it used to try the hub for ~26 s)
    (["synthesize", "red", "--model", "x.gguf", "--out", "{tmp}/o"], "does not exist", {}),
    (["synthesize", "red", "--layer", "99", "--out", "{tmp}/new/deeper"], "out of range", {}),  # no empty folders left
    (["toyworld", "calibrate", "--model", "{tmp}/no/such/folder", "--out", "{tmp}/cal"], "does not exist", {}),
    (["synthesize", "red", "--model", "{txt}", "--out", "{tmp}/o"], "is a file", {}),
    (["synthesize", "red", "--model", "{tmp}/no/such/folder", "--out", "{tmp}/o"], "does not exist", {}),
    (["report", "{run}", "--verdicts", "openai"], "has no verdicts from judge 'openai'", {}),
    (["sweep", "--concepts", "{tmp}/c.yaml", "--seed", "99999999999999999999", "--out", "{tmp}/new"],
     "--seed 99999999999999999999 is out of range", {"setup": _concepts_file}),
    # issue 24: silent wrong results, refusals, ... (before: the behaviour on the right)
    (["demo", "--models", "toy-nope", "--concepts", "red", "--layer", "1", "--steps", "1", "--out", "{tmp}/demo"],
     "unknown toy model 'toy-nope'", {}),  # drew a random model's grid, exit 0
    # issue 24.2: annotate on a read-only RUN said "answers are saved", then failed every answer with HTTP 500
    (["annotate", "{run}", "--port", "18765"], "is read-only here", {"readonly": True, "setup": _wal_left_behind}),
    # issue 24.3: a RUN whose database lost its settings (or is zero bytes) was taken for a new RUN and its PNGs overwritten
    (["sweep", "--concepts", "{tmp}/c.yaml", "--layer", "2", "--out", "{run}"], "cannot account for", {"setup": _settings_lost}),
    (["sweep", "--concepts", "{tmp}/c.yaml", "--layer", "2", "--out", "{run}"], "cannot account for", {"setup": _zero_byte_database}),
    # issue 24.6: files that are not what they claim
    (["synthesize", "red", "--baseline", "{tmp}/words.bin", "--out", "{tmp}/o"], "is not UTF-8 text", {"setup": _binary_file}),
    # sweep and align read --baseline through the API's reader, which had no such check (a UnicodeDecodeError traceback)
    (["sweep", "--concepts", "toy", "--layer", "1", "--baseline", "{tmp}/words.bin", "--out", "{tmp}/o"], "is not UTF-8 text",
     {"setup": _binary_file}),
    (["align", "--baseline", "{tmp}/words.bin", "--out", "{tmp}/o"], "is not UTF-8 text", {"setup": _binary_file}),
    (["judge", "{run}", "--judge", "toy"], "is not valid JSON", {"setup": _corrupt_concepts_meta}),
    (["report", "{run}", "--format", "csv", "--out", "{tmp}/r.csv"], "is not valid JSON", {"setup": _corrupt_concepts_meta}),
    (["judge-image", "{png}", "--concept", "red", "--judge", "toy", "--cache", "{tmp}"], "is a folder", {}),
    (["judge-image", "{png}", "--concept", "red", "--judge", "toy", "--cache", "{txt}"], "is not a verdict cache", {}),
    (["judge", "{run}", "--judge", "toy", "--rejudge"], "is read-only here", {"readonly": True, "setup": _wal_left_behind}),
    # issue 24.12: report counted the verdicts of missing or replaced images (its CSV was the intact RUN's)
    (["report", "{run}", "--format", "csv", "--out", "{tmp}/r.csv"], "(missing)", {"setup": _delete_one_png}),
    (["report", "{run}", "--format", "csv", "--out", "{tmp}/r.csv"], "(changed since the sweep", {"setup": _change_one_png}),
    # issue 24.24: a RUN's database naming a file outside RUN (with that file's sha256) is never embedded or judged
    (["report", "{run}", "--embed", "--out", "{tmp}/r.html"], "(outside RUN)", {"setup": _image_path_outside_run}),
    (["report", "{run}", "--embed", "--out", "{tmp}/r.html"], "(outside RUN)", {"setup": _image_path_climbs_out}),
    (["judge", "{run}", "--judge", "toy", "--rejudge"], "(outside RUN)", {"setup": _image_path_outside_run}),
    # issue 24.15: a concept that shows nothing (a zero-width space) is refused like '' and '   '
    (["synthesize", "\u200b", "--out", "{tmp}/o"], "empty concept", {}),
    (["synthesize", "\u2063\ufeff", "--out", "{tmp}/o"], "empty concept", {}),
    (["synthesize", "red", "--negative", "red", "--out", "{tmp}/o"], "negative 'red' is also a concept", {}),  # said nothing
    (["synthesize", "red", "--copies", "100000", "--max-memory", "2GiB", "--out", "{tmp}/o"],
     "--copies 100000 needs", {}),  # computed for hours over its memory budget
    # review of the issue 19/21 surfaces (before: the behaviour on the right)
    (["lens", "--judge", "openai", "--out", "{tmp}/l"], "--judge openai needs --judge-model", {}),  # a TypeError traceback
    (["lens", "--judge-cache", "{tmp}/c.sqlite", "--out", "{tmp}/l"], "need --judge openai or hf", {}),  # ignored, exit 0
    (["lens", "--images", "{run}", "--concepts", "paper", "--out", "{tmp}/l"], "a RUN has its own concepts", {}),  # ignored
    (["lens", "--concepts", "paper", "--layer", "1", "--out", "{tmp}/l"], "the toy world (the default --images) has its own",
     {}),  # ignored: the toy world's labels were read, exit 0
    (["sweep", "--concepts", "{tmp}/c.yaml", "--ablation", "", "--out", "{tmp}/new"], "names no ablation",
     {"setup": _concepts_file}),  # swept without any arm, exit 0
    (["sweep", "--concepts", "{tmp}/c.yaml", "--ablation", ",", "--out", "{tmp}/new"], "names no ablation",
     {"setup": _concepts_file}),
]


def _make_run(tmp: Path) -> Path:
    import torch

    from layerdream.evaluation import Answer, Judge
    from layerdream.sweep.conceptsets import load_concept_set
    from layerdream.sweep.judging import judge_run
    from layerdream.sweep.store import Store
    from layerdream.sweep.sweeper import SweepSpec, run_sweep

    class Result:
        def __init__(self, job):
            g = torch.Generator().manual_seed(int(hashlib.sha256(job.key.encode()).hexdigest()[:8], 16))
            self.image = torch.rand(3, 8, 8, generator=g)
            self.cosine_initial, self.cosine_final, self.seconds, self.trajectory, self.config = 0.0, 0.5, 0.0, [], {}

        def to_pil(self):
            from PIL import Image

            return Image.fromarray((self.image.permute(1, 2, 0) * 255).byte().numpy())

    class YesJudge(Judge):
        id, prompt_version = "toy:shipped", "toy-head-v1"  # as if the toy judge had judged this RUN

        def prompt(self, item, protocol):
            return "head"

        def answer(self, queries, progress=False):
            return [Answer(text=q.item.concept, score=1) for q in queries]

    (tmp / "concepts.yaml").write_text(CONCEPTS)
    spec = SweepSpec(model="fake", concepts=load_concept_set(str(tmp / "concepts.yaml")), layers=[1], seeds=[0])
    run = tmp / "run"
    run_sweep(spec, run, execute=lambda batch: [(j, Result(j)) for j in batch], progress=False, log=lambda m: None)
    store = Store.open_existing(run)
    judge_run(store, YesJudge(), n_queries=1, progress=False)
    store.close()
    return run


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's hash and every folder (a refused command must not leave an empty ``--out`` behind)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*")) if not p.name.endswith(("-wal", "-shm", ".lock"))}


def _verdicts(run: Path) -> list[tuple]:
    import sqlite3

    # read-only: a read-write connection would checkpoint a -wal file the row left behind on purpose
    conn = sqlite3.connect(f"file:{run / 'sweep.sqlite'}?mode=ro", uri=True)
    try:
        return sorted(conn.execute("SELECT * FROM verdicts").fetchall())
    except sqlite3.OperationalError as err:  # a row that emptied the database
        assert "no such table" in str(err)
        return []
    finally:
        conn.close()


def _can_mount_readonly(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    d = tmp / "probe"
    d.mkdir()
    ok = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {d} {d} && mount -o remount,bind,ro {d}"],
                        capture_output=True).returncode == 0
    d.rmdir()
    return ok


@pytest.mark.parametrize("argv,fragment,opts", ROWS, ids=[" ".join(r[0])[:60] for r in ROWS])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path, capsys, argv, fragment, opts):
    from PIL import Image

    run = _make_run(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes, not an image and not a report\n")
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "red.png")
    if opts.get("setup"):
        opts["setup"](run)
    args = [a.format(run=run, tmp=tmp_path, txt=tmp_path / "notes.txt", png=tmp_path / "red.png") for a in argv]
    before, verdicts_before = _snapshot(tmp_path), _verdicts(run)
    if opts.get("readonly"):
        if not _can_mount_readonly(tmp_path):
            pytest.skip("no user namespaces here to mount RUN read-only")
        inner = " ".join(f"'{a}'" for a in [sys.executable, "-m", "layerdream.cli", *args])
        proc = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {run} {run} && mount -o remount,bind,ro {run} "
                               f"&& exec {inner}"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"})
        rc, err = proc.returncode, proc.stderr
    else:
        capsys.readouterr()
        rc = main(args)
        err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("layerdream: error:"), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before  # nothing written, nothing overwritten
    assert _verdicts(run) == verdicts_before  # no verdict lost
