"""EngineExecute against the real engine on a tiny random Gemma 3: controls get the right targets."""
from __future__ import annotations

import torch

from layerdream.sweep.execute import EngineExecute
from layerdream.sweep.plan import Job


def test_controls_reach_the_engine_as_intended(tiny_vlm):
    import layerdream as ld

    concept = Job("concept", "red", "colour", 1, 0, "red")
    shuffled = Job("shuffled", "red", "colour", 1, 0, "dog")
    rnd = Job("random", "blue", "colour", 1, 0, "random#3")
    out = EngineExecute(tiny_vlm, "fast", 2)([concept, shuffled, rnd])
    assert [j for j, _ in out] == [concept, shuffled, rnd]
    by_job = {j.kind: r for j, r in out}
    # the shuffled image is the donor's image: same as synthesising "dog" alone (the engine is batch-neutral)
    [dog] = ld.synthesize(tiny_vlm, ["dog"], layers=[1], seeds=[0], preset="fast", steps=2, progress=False)
    assert torch.allclose(by_job["shuffled"].image, dog.image, atol=1e-5)
    assert not torch.allclose(by_job["concept"].image, dog.image, atol=1e-3)
    assert by_job["random"].label == rnd.label


def test_a_donor_that_is_also_a_concept_is_made_once_for_both_jobs(tiny_vlm):
    """synthesize makes a repeated concept once, so the engine must not pass the donor twice (the labels
    would no longer match the jobs); both jobs get the one image."""
    concept = Job("concept", "dog", "animal", 1, 0, "dog")
    shuffled = Job("shuffled", "red", "colour", 1, 0, "dog")
    shuffled2 = Job("shuffled", "cat", "animal", 1, 0, "dog")
    out = EngineExecute(tiny_vlm, "fast", 2)([concept, shuffled, shuffled2])
    assert [j for j, _ in out] == [concept, shuffled, shuffled2]
    assert out[0][1] is out[1][1] is out[2][1]


def test_options_are_passed_through(tiny_vlm):
    out = EngineExecute(tiny_vlm, "fast", 2, {"lr": 0.5, "weighting": "mean"})([Job("concept", "red", "c", 1, 0, "red")])
    config = out[0][1].config
    assert config["lr"] == 0.5 and config["weighting"] == "mean"


def test_preflight_refuses_before_any_job_and_leaves_no_run(tiny_folder, tmp_path, capsys):
    """A concept the model cannot see is refused before the RUN exists, so the corrected file is then accepted
    (a RUN created first would hold the bad file's fingerprint and refuse the corrected one)."""
    from layerdream.cli import main
    from layerdream.sweep.store import DB_NAME, Store

    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\nzebra,animal\n")  # zebra is not in the tiny vocabulary
    run = tmp_path / "run"
    base = ["sweep", "--model", str(tiny_folder), "--device", "cpu", "--steps", "1", "--no-progress", "--out", str(run)]
    assert main([*base, "--concepts", str(concepts), "--layer", "1"]) == 2
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("layerdream: error:")]
    assert len(errors) == 1 and "zebra" in errors[0]
    assert not (run / DB_NAME).exists()
    concepts.write_text("concept,category\nred,colour\nblue,colour\n")  # corrected
    assert main([*base, "--concepts", str(concepts), "--layer", "1", "--seed", "0", "--no-controls"]) == 0
    assert len(Store.open_existing(run).results()) == 2
    capsys.readouterr()
    assert main([*base, "--concepts", str(concepts), "--layer", "9", "--out", str(tmp_path / "run2")]) == 2
    assert "out of range" in capsys.readouterr().err
    assert not (tmp_path / "run2").exists()


def test_an_extension_the_model_refuses_changes_nothing(tiny_folder, tmp_path, capsys):
    """--extend with a layer the model does not have is refused before the RUN's settings grow."""
    from layerdream.cli import main
    from layerdream.sweep.store import Store

    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\nblue,colour\n")
    run = tmp_path / "run"
    base = ["sweep", "--model", str(tiny_folder), "--device", "cpu", "--steps", "1", "--no-progress", "--out", str(run),
            "--concepts", str(concepts), "--no-controls"]
    assert main([*base, "--layer", "1"]) == 0
    assert main([*base, "--layer", "9", "--extend"]) == 2
    assert Store.open_existing(run).get_meta("settings")["layers"] == [1]
    capsys.readouterr()
    assert main([*base, "--layer", "1"]) == 0  # not refused as "made with layers=[1, 9]"


def test_memory_planner_sets_jobs_per_call_and_resources_reach_the_engine(tiny_vlm):
    from layerdream.synthesis import memory
    from layerdream.synthesis.presets import make_config

    jobs = [Job("concept", w, "c", layer, 0, w) for w in ("red", "blue", "dog", "cat") for layer in (1, 2)]
    assert EngineExecute(tiny_vlm, "fast", 2).planned_batch(jobs) == 4  # plenty of RAM: a whole (layer, seed) group
    cfg = make_config("fast", image_size=tiny_vlm.image_size, grid=tiny_vlm.grid, layer=2, num_layers=tiny_vlm.num_layers)
    per_copy = memory.copy_cost(tiny_vlm.model.config, 2, tiny_vlm.image_size, cfg.canvas,
                                tiny_vlm.image_prompt()["input_ids"].shape[1], tiny_vlm.dtype, False, False).total
    two = int(2.5 * (memory.concept_bytes(cfg) + cfg.copies * per_copy))
    tight = EngineExecute(tiny_vlm, "fast", 2, resources={"max_memory": two, "checkpoint_vision": False})
    assert tight.planned_batch(jobs) == 2
    assert tight.planned_batch(jobs, cap=1) == 1
    [(_, result)] = tight([jobs[0]])
    assert result.config["plan"]["budget_bytes"] == two and result.config["plan"]["checkpoint_vision"] is False


def test_a_long_concept_makes_a_legal_unique_file_name():
    from layerdream.sweep.execute import image_relpath

    long = "red " * 120
    a = image_relpath(Job("concept", long, "c", 1, 0, long))
    b = image_relpath(Job("concept", long + "x", "c", 1, 0, long + "x"))
    assert a != b and max(len(part) for part in a.split("/")) < 100


def test_the_run_keeps_lr_and_tau_per_layer_and_a_resume_that_would_change_them_is_refused(tiny_folder, tmp_path, capsys):
    """Issue 19 item 3: interpolated lr/tau are provenance; a resume that resolves them otherwise (a
    layerdream whose interpolation changed) would mix two methods in one RUN, so it is refused."""
    import json

    from layerdream.cli import main
    from layerdream.sweep.store import Store

    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\nblue,colour\n")
    run = tmp_path / "run"
    argv = ["sweep", "--model", str(tiny_folder), "--device", "cpu", "--steps", "1", "--no-progress", "--no-controls",
            "--concepts", str(concepts), "--layer", "1", "--out", str(run)]
    assert main(argv) == 0
    store = Store.open_existing(run)
    schedule = store.get_meta("schedule")
    assert schedule["1"]["lr_source"] == "interpolated" and schedule["1"]["paper_layer"] == 11.333
    row = store.results()[0]
    extra = json.loads(row["extra"])
    assert extra["lr"] == schedule["1"]["lr"] and extra["tau"] == schedule["1"]["tau"]
    assert 1.0 <= extra["effective_tokens"] <= extra["image_tokens"] == 4  # issue 19 item 4: per result, in the RUN
    from layerdream.report.build import load

    [cell] = [c for c in load(run)["cosine"] if c["kind"] == "concept" and c["category"] == "All"]
    assert cell["mean_effective_tokens"] >= 1.0 and cell["image_tokens"] == 4
    assert json.loads((run / row["image_path"]).with_suffix(".json").read_text())["config"]["tau_source"] == "interpolated"
    store.set_meta("schedule", {"1": {**schedule["1"], "tau": 0.005}})  # as if an older rule had made them
    store.close()
    (run / row["image_path"]).unlink()  # something to do, so the model loads and the schedule is checked
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "tau 0.005" in err and "new --out" in err and err.count("layerdream: error:") == 1


def test_the_weighting_ablation_is_an_arm_a_sweep_can_add(tiny_folder, tmp_path, capsys):
    """Issue 19 item 4: --ablation weighting makes each concept again with mean pooling and with the prior
    off; --extend adds it to an existing RUN; the report shows it beside the main result."""
    import json

    from layerdream.cli import main
    from layerdream.sweep.store import Store

    concepts = tmp_path / "c.csv"
    concepts.write_text("concept,category\nred,colour\nblue,colour\n")
    run = tmp_path / "run"
    argv = ["sweep", "--model", str(tiny_folder), "--device", "cpu", "--steps", "1", "--no-progress", "--no-controls",
            "--concepts", str(concepts), "--layer", "1", "--out", str(run)]
    assert main(argv) == 0
    assert main([*argv, "--ablation", "weighting"]) == 2 and "--extend" in capsys.readouterr().err
    assert main([*argv, "--ablation", "weighting", "--extend"]) == 0
    store = Store.open_existing(run)
    rows = store.results()
    assert sorted(r["kind"] for r in rows) == ["concept"] * 2 + ["weighting-mean"] * 2 + ["weighting-noprior"] * 2
    weighting = {r["kind"]: json.loads((run / r["image_path"]).with_suffix(".json").read_text())["config"]["weighting"]
                 for r in rows}
    assert weighting == {"concept": "paper", "weighting-mean": "mean", "weighting-noprior": "noprior"}
    mean_tokens = {json.loads(r["extra"])["effective_tokens"] for r in rows if r["kind"] == "weighting-mean"}
    assert mean_tokens == {4.0}  # mean pooling rests on all 4 tokens of the tiny grid
    store.close()
    capsys.readouterr()
    assert main([*argv, "--ablation", "nope"]) == 2 and "unknown ablation 'nope'" in capsys.readouterr().err
