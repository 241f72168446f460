"""The benchmark suite's quick and tiny paths run, count FLOPs right and write a complete JSON.

Numbers from these runs mean nothing (tiny models, a shared CPU); what is checked is that every
benchmark's code path works end to end without a GPU, that the analytic FLOP count reproduces the
paper-setting figures quoted in issue 9, and that the suite keeps its one-line-error contract.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import batching, early_exit, embedded, flops, gpu, suite  # noqa: E402


def _gemma3_4b_config():
    from transformers import Gemma3Config

    text = dict(gpu.GEMMA3_4B_TEXT, layer_types=gpu.layer_types(34))
    return Gemma3Config(vision_config=gpu.GEMMA3_4B_VISION, text_config=text, mm_tokens_per_image=256)


def test_flops_reproduce_the_paper_setting_figures():
    config = _gemma3_4b_config()
    vision = flops.vision_cost(config.vision_config)
    assert vision.forward == pytest.approx(5.45e12, rel=0.01)  # SigLIP-So400m at 896 px (issue 9)
    step = flops.step_flops(config, layer=1, seq=271)
    per_image = gpu.PAPER_STEPS * 8 * 2 * step.early_exit_forward  # the convention: backward = forward
    assert per_image == pytest.approx(53e15, rel=0.02)
    # backward with frozen weights: linear layers 1x, attention products 2x -> between 2x and 3x forward
    assert 2 * step.early_exit_forward < step.early_exit < 3 * step.early_exit_forward
    assert step.early_exit < step.full_model < step.full_logits
    last = flops.step_flops(config, layer=34, seq=271)
    assert last.full_model == pytest.approx(last.early_exit)
    assert last.forward_share_model == pytest.approx(1.0)


def test_b1_measures_every_way_on_a_tiny_gemma3():
    from layerdream.models.tiny import build_tiny_gemma3

    # the real 262k vocabulary, so the R1 way pays real logits; 28 px / patch 14 -> 4 patches -> 1 token
    model, _, _ = build_tiny_gemma3(["red"], image_size=28, patch_size=14, mm_tokens_per_image=1,
                                    text={"vocab_size": 262208, "num_hidden_layers": 4})
    result = early_exit.run(quick=True, model=model.requires_grad_(False))
    assert [r["layer"] for r in result["rows"]] == [1, 2, 4]
    for row in result["rows"]:
        assert set(row["seconds"]) == set(early_exit.WAYS) and min(row["seconds"].values()) > 0
        for key in ("full-model/early-exit", "full-logits/early-exit"):
            assert row[key]["ideal"] >= 1.0 and row[key]["measured"] > 0
    assert result["rows"][-1]["full-model/early-exit"]["ideal"] == pytest.approx(1.0)
    assert 1.0 <= result["rows"][0]["backward/forward"]["flops"] <= 2.0  # frozen weights: input gradients only
    assert "within 1.1x of ideal" in early_exit.report(result)


def test_b2_reports_per_image_and_setup_apart():
    result = batching.run(quick=True, sizes=(1, 2), steps=2, repeats=1)
    ways = [r["way"] for r in result["rows"]]
    assert ways == ["B=1", "B=2", "separate calls"]
    for row in result["rows"]:
        assert row["per_image_s"] > 0 and row["setup_s_per_call"] >= 0
    assert result["rows"][0]["speedup_vs_B1"] == pytest.approx(1.0)
    assert result["setup"]["load_model_s"] > 0
    assert "set-up s per call" in batching.report(result)


def test_b3_measures_the_child_not_the_suite():
    assert {"layerdream synthesize red", "toy sweep (layer 1, seed 0)"} <= set(embedded.commands(quick=True))
    ballast = torch.ones(2**27, dtype=torch.uint8)  # 128 MiB more in this process than in the child
    result = embedded.run(quick=True, names=["layerdream --help"])
    del ballast
    [row] = result["rows"]
    assert row["failed"] == 0 and row["seconds"] > 0
    import resource

    own_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 20 < row["peak_rss_mib"] < own_mib  # the child's own high-water mark, not this process's


def test_b4_tiny_runs_the_gpu_path_on_cpu():
    result = gpu.run(tiny=True, steps=2)
    assert result["dtype"] == "bfloat16" and result["recorded_dtype"] == "bfloat16"
    assert result["concepts_per_forward"] >= 1 and result["seconds_per_image_600_steps"] > 0
    assert result["fraction_of_peak"] is None  # no peak for a CPU
    assert result["early_exit"][0]["full-logits/early-exit"]["ideal"] > 1
    text = gpu.report(result)
    assert "concepts per forward" in text and "s per image" in text


def test_b4_peak_table():
    assert gpu.peak_bf16_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert gpu.peak_bf16_flops("NVIDIA H100 PCIe") == 756e12
    assert gpu.peak_bf16_flops("NVIDIA H200") == 989e12
    assert gpu.peak_bf16_flops("NVIDIA GeForce RTX 4090") == 165e12
    assert gpu.peak_bf16_flops("Some Future GPU") is None


def test_suite_writes_json_and_refuses_bad_input(tmp_path, capsys):
    assert suite.main(["--only", "B7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown benchmark B7" in err
    assert suite.main(["--only", "B4", "--json", str(tmp_path)]) == 2  # a folder, not a file
    out = tmp_path / "r.json"
    tiny = ["--b4-tiny", "--b4-steps", "1"] if torch.cuda.is_available() else []  # never the 4B inside tests
    code = suite.main(["--only", "B4", "--json", str(out), *tiny])
    record = json.loads(out.read_text())
    assert code == 0 and set(record) >= {"command", "date", "machine", "versions", "benchmarks"}
    assert record["machine"]["cpu"] and record["versions"]["torch"] and "--only B4" in record["command"]
    if not torch.cuda.is_available():
        assert "skipped" in record["benchmarks"]["B4"]
        assert "B4 GPU: skipped" in capsys.readouterr().out
