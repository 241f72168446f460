import sqlite3

import pytest
from PIL import Image

from layerdream.errors import UserError
from layerdream.sweep.conceptsets import load_concept_set
from layerdream.sweep.store import DB_NAME, Store
from layerdream.sweep.sweeper import SweepSpec, run_sweep


def spec(path, **kw):
    base = dict(model="fake", concepts=load_concept_set(str(path)), layers=[1, 2], seeds=[0, 1], steps=3,
                controls_per_category=1)  # the store's mechanics; the default number is tested in test_sweep_plan
    base.update(kw)
    return SweepSpec(**base)


def test_sweep_then_rerun_is_idempotent(tmp_path, small_set_file, fake_execute):
    out = tmp_path / "run"
    first = run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False, batch_size=3)
    # 5 concepts + 2 random + 2 shuffled per (layer, seed); 4 (layer, seed) pairs
    assert first.total == 36 and first.ran == 36
    assert all(len({k.split("|L")[1] for k in call}) == 1 for call in fake_execute.calls)  # one layer/seed per batch
    again = run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    assert again.ran == 0 and again.already_done == 36
    store = Store.open_existing(out)
    rows = store.results()
    assert len(rows) == 36 and len({r["key"] for r in rows}) == 36
    assert {r["kind"] for r in rows} == {"concept", "random", "shuffled"}
    for r in rows:
        Image.open(out / r["image_path"]).verify()
        assert (out / r["image_path"]).with_suffix(".json").is_file()


def test_interrupted_sweep_resumes_without_duplicates(tmp_path, small_set_file, fake_execute_factory):
    FakeExecute = fake_execute_factory
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec(small_set_file), out, execute=FakeExecute(fail_after=2), progress=False, batch_size=4)
    assert len(Store.open_existing(out).results()) == 8
    second = FakeExecute()
    outcome = run_sweep(spec(small_set_file), out, execute=second, progress=False, batch_size=4)
    assert outcome.already_done == 8 and outcome.ran == 28
    resumed = [k for call in second.calls for k in call]
    assert len(resumed) == len(set(resumed)) == 28


@pytest.mark.parametrize("change,fragment", [
    ({"model": "other"}, "model="),
    ({"steps": 4}, "steps="),
    ({"preset": "fast"}, "preset="),  # "fake" is a real checkpoint: its default preset is paper
    ({"controls": False}, "controls="),
    ({"layers": [1, 2, 3]}, "--extend"),
    ({"seeds": [0]}, "--extend"),
])
def test_mismatched_settings_are_refused(tmp_path, small_set_file, fake_execute, change, fragment):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    with pytest.raises(UserError) as err:
        run_sweep(spec(small_set_file, **change), out, execute=fake_execute, progress=False)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_other_concept_file_is_refused(tmp_path, small_set_file, fake_execute):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    other = tmp_path / "concepts.csv"  # same stem, different content
    other.write_text("concept,category\nred,colour\n")
    with pytest.raises(UserError, match="concepts_fingerprint"):
        run_sweep(spec(other), out, execute=fake_execute, progress=False)


def test_extend_adds_layers_explicitly(tmp_path, small_set_file, fake_execute):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    outcome = run_sweep(spec(small_set_file, layers=[3]), out, execute=fake_execute, progress=False, extend=True)
    assert outcome.total == 54 and outcome.ran == 18
    assert Store.open_existing(out).get_meta("settings")["layers"] == [1, 2, 3]


def test_unique_key_never_duplicates(tmp_path, small_set_file, fake_execute):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    store = Store.open_existing(out)
    row = store.results()[0]
    assert store.add_result(row) is False
    assert len(store.results()) == 36
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO results (key, kind, concept, category, source, layer, seed, image_path, "
                           "image_sha256, finished_at) VALUES (?, 'concept', 'x', 'y', 'x', 1, 0, 'p', 's', 0)", (row["key"],))


def test_journal_is_wal(tmp_path, small_set_file, fake_execute):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    mode = sqlite3.connect(out / DB_NAME).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_stale_temp_files_are_cleaned(tmp_path, small_set_file, fake_execute):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    stale = out / "images" / ".x.png.abc.tmp"
    stale.write_bytes(b"half")
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    assert not stale.exists()


@pytest.mark.parametrize("make", ["missing", "file", "empty_dir", "garbage_db"])
def test_open_existing_refuses_non_runs(tmp_path, make):
    target = tmp_path / "x"
    if make == "file":
        target.write_text("hi")
    elif make == "empty_dir":
        target.mkdir()
    elif make == "garbage_db":
        target.mkdir()
        (target / DB_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(UserError) as err:
        Store.open_existing(target)
    assert "\n" not in str(err.value)


def test_a_second_concurrent_sweep_is_refused(tmp_path, small_set_file, fake_execute):
    from layerdream.sweep.sweeper import _exclusive

    out = tmp_path / "run"
    run_sweep(spec(small_set_file, layers=[1], seeds=[0]), out, execute=fake_execute, progress=False)
    held = _exclusive(out)  # as if another process were sweeping
    try:
        with pytest.raises(UserError, match="another `layerdream sweep`"):
            run_sweep(spec(small_set_file, layers=[1], seeds=[0]), out, execute=fake_execute, progress=False)
    finally:
        held.close()
    assert run_sweep(spec(small_set_file, layers=[1], seeds=[0]), out, execute=fake_execute, progress=False).ran == 0


def test_a_resumed_sweep_remakes_missing_and_changed_images(tmp_path, small_set_file, fake_execute_factory):
    """...and an image whose JSON (trajectory, config, versions) was deleted: only its job can write it again
    (issue 24.4: resume said "all done" and the JSON stayed missing)."""
    import hashlib

    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute_factory(), progress=False)
    rows = Store.open_existing(out).results()
    gone, changed = out / rows[0]["image_path"], out / rows[5]["image_path"]
    gone.unlink()
    changed.write_bytes(changed.read_bytes()[:-10])
    no_json = (out / rows[9]["image_path"]).with_suffix(".json")
    no_json.unlink()
    logged = []
    again = fake_execute_factory()
    outcome = run_sweep(spec(small_set_file), out, execute=again, progress=False, log=logged.append)
    assert outcome.ran == 3
    assert sorted(k for call in again.calls for k in call) == sorted(rows[i]["key"] for i in (0, 5, 9))
    assert any("3 recorded image(s) missing, changed or without their JSON" in m for m in logged)
    assert no_json.is_file()
    for r in Store.open_existing(out).results():
        assert hashlib.sha256((out / r["image_path"]).read_bytes()).hexdigest() == r["image_sha256"]
    assert run_sweep(spec(small_set_file), out, execute=again, progress=False).ran == 0


@pytest.mark.parametrize("same", [
    {"steps": 80},                      # the fast preset's own steps
    {"options": {"lr": 0.3}},           # the fast preset's own lr
    {"options": {"copies": 4, "tau": 0.1, "weighting": "paper", "upsample": "bilinear"}},
])
def test_flags_equal_to_the_presets_own_values_are_the_same_sweep(tmp_path, small_set_file, fake_execute, same):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file, steps=None, preset="fast"), out, execute=fake_execute, progress=False)
    typed = {"steps": None, "preset": "fast", **same}
    assert run_sweep(spec(small_set_file, **typed), out, execute=fake_execute, progress=False).ran == 0
    # and the other way round: a RUN made with the value typed out accepts the bare command
    out2 = tmp_path / "run2"
    run_sweep(spec(small_set_file, **typed), out2, execute=fake_execute, progress=False)
    assert run_sweep(spec(small_set_file, steps=None, preset="fast"), out2, execute=fake_execute, progress=False).ran == 0


@pytest.mark.parametrize("other,fragment", [
    ({"options": {"lr": 0.5}}, "options="),
    ({"steps": 81}, "steps="),
    ({"preset": "paper", "steps": None, "options": {"lr": 0.04}}, "was made with"),
])
def test_real_differences_are_still_refused(tmp_path, small_set_file, fake_execute, other, fragment):
    out = tmp_path / "run"
    run_sweep(spec(small_set_file, steps=None), out, execute=fake_execute, progress=False)
    with pytest.raises(UserError, match=fragment):
        run_sweep(spec(small_set_file, **{"steps": None, **other}), out, execute=fake_execute, progress=False)


def test_a_paper_lr_is_an_override_not_the_presets_value():
    """The paper preset's lr depends on the layer, so --lr 0.04 pins it: a real setting, kept."""
    from layerdream.sweep.settings import canonical_settings

    kept = canonical_settings({"preset": "paper", "steps": 600, "options": {"lr": 0.04, "copies": 8}})
    assert kept["steps"] is None and kept["options"] == {"lr": 0.04}


def test_cli_resume_with_the_presets_values_typed_out(tmp_path, small_set_file, monkeypatch, capsys, fake_execute_factory):
    """`--steps 80` / `--lr 0.3` on a RUN made with the fast preset's defaults: resumed, not refused."""
    from layerdream.cli import main
    from layerdream.sweep import sweeper

    real = sweeper.run_sweep
    monkeypatch.setattr("layerdream.cli.sweep.run_sweep", lambda *a, **k: real(*a, **{**k, "execute": fake_execute_factory()}))
    base = ["sweep", "--concepts", str(small_set_file), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(base) == 0
    assert main([*base, "--steps", "80"]) == 0
    assert main([*base, "--lr", "0.3", "--steps", "80", "--copies", "4"]) == 0
    assert main([*base, "--lr", "0.31"]) == 2
    assert "lr" in capsys.readouterr().err.strip().splitlines()[-1]


def test_cli_dtype_is_compared_as_resolved(tmp_path, small_set_file, monkeypatch, capsys, fake_execute_factory):
    """Issue 24.22: `--dtype float32` on a CPU RUN made without --dtype (float32 is CPU's default) was
    refused ("made with dtype=None"); both ways round it is the same sweep, and bfloat16 still is not."""
    from layerdream.cli import main
    from layerdream.sweep import sweeper

    real = sweeper.run_sweep
    monkeypatch.setattr("layerdream.cli.sweep.run_sweep", lambda *a, **k: real(*a, **{**k, "execute": fake_execute_factory()}))
    for made, then in ((), ("--dtype", "float32")), (("--dtype", "float32"), ()):
        base = ["sweep", "--concepts", str(small_set_file), "--out", str(tmp_path / f"run{len(made)}"), "--device", "cpu",
                "--no-progress"]
        assert main([*base, *made]) == 0
        capsys.readouterr()
        assert main([*base, *then]) == 0, capsys.readouterr().err
        assert main([*base, "--dtype", "bfloat16"]) == 2
        assert "dtype" in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_help_example_for_a_paper_run_uses_the_paper_preset():
    from layerdream.cli.sweep import SWEEP_EPILOG

    paper_lines = [l for l in SWEEP_EPILOG.splitlines() if "--concepts paper" in l]
    assert paper_lines and all("--preset paper" in l for l in paper_lines)


def test_settings_probes_print_no_paper_preset_note():
    """The model-independence probes (a 4-layer toy among them) are bookkeeping: their "paper preset at
    layer 1 of 4 ... interpolated" note was printed on every `sweep --preset paper` (issue 24 item 20)."""
    import logging

    from layerdream.synthesis import presets
    from layerdream.sweep import settings

    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("layerdream")
    logger.addHandler(handler)  # not caplog: the CLI may have set propagate=False on this logger
    try:
        settings._preset_constants.cache_clear()
        presets._told.clear()
        settings.canonical_settings({"preset": "paper", "steps": None, "options": {}})
        assert not any("interpolated" in m for m in seen), seen
        presets.make_config("paper", image_size=64, grid=(4, 4), layer=1, num_layers=4)  # the user's model: told
        assert any("paper preset at layer 1 of 4" in m for m in seen), seen
    finally:
        logger.removeHandler(handler)


def test_the_default_preset_is_resolved_and_recorded(tmp_path, small_set_file, fake_execute):
    """No preset: paper for a real checkpoint, fast for a toy model; `--preset paper` then resumes the same
    RUN, and the RUN records which rule chose it (issue 19 item 1)."""
    from layerdream.synthesis.presets import RULE_REAL, RULE_TOY

    assert spec(small_set_file, model="toy-aligned").settings()["preset"] == "fast"
    assert spec(small_set_file, model="toy-aligned").resolved_preset == ("fast", RULE_TOY)
    out = tmp_path / "run"
    run_sweep(spec(small_set_file), out, execute=fake_execute, progress=False)
    store = Store.open_existing(out)
    assert store.get_meta("settings")["preset"] == "paper" and store.get_meta("preset_rule") == RULE_REAL
    store.close()
    again = run_sweep(spec(small_set_file, preset="paper"), out, execute=fake_execute, progress=False)
    assert again.ran == 0 and again.already_done == again.total


def test_a_run_keeps_its_number_of_controls_and_new_runs_get_four(tmp_path, small_set_file, fake_execute):
    """The default went from 1 to 4 (issue 19 item 9); a RUN made with 1 resumes with the same command."""
    old = tmp_path / "old"
    run_sweep(spec(small_set_file), old, execute=fake_execute, progress=False)  # 1 per category
    assert run_sweep(spec(small_set_file, controls_per_category=None), old, execute=fake_execute, progress=False).ran == 0
    new = tmp_path / "new"
    run_sweep(spec(small_set_file, controls_per_category=None), new, execute=fake_execute, progress=False)
    store = Store.open_existing(new)
    assert store.get_meta("settings")["controls_per_category"] == 4
    store.close()


def test_more_shuffled_controls_than_donors_are_announced(tmp_path, small_set_file, fake_execute):
    """Issue 24 item 14: the sweep says that a category gets fewer shuffled controls, and why."""
    logged: list[str] = []
    run_sweep(spec(small_set_file, controls_per_category=1000, layers=[1], seeds=[0]), tmp_path / "run",
              execute=fake_execute, progress=False, log=logged.append)
    assert any("--controls-per-category 1000" in m and "donor" in m for m in logged), logged


def test_a_settings_refusal_names_a_left_out_flag_as_the_default_not_none(tmp_path):
    """Resuming a `--steps 20` RUN without --steps said "made with steps=20, not None"."""
    import pytest

    from layerdream.errors import UserError
    from layerdream.sweep.store import check_settings

    with pytest.raises(UserError) as err:
        check_settings({"preset": "fast", "steps": 20}, {"preset": "fast", "steps": None}, False, tmp_path)
    assert "steps=20, not the default (not given)" in str(err.value) and "None" not in str(err.value)
    with pytest.raises(UserError, match="steps=the default \\(not given\\), not 20"):
        check_settings({"preset": "fast", "steps": None}, {"preset": "fast", "steps": 20}, False, tmp_path)
