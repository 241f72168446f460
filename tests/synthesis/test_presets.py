"""Which preset runs when none is named: the paper's for real checkpoints, fast for toy models (issue 19 item 1)."""
from __future__ import annotations

import pytest

import layerdream as ld
from layerdream.errors import UserError
from layerdream.synthesis.presets import RULE_GIVEN, RULE_REAL, RULE_TOY, choose_preset


@pytest.mark.parametrize("model,expected", [
    ("google/gemma-3-4b-it", ("paper", RULE_REAL)),
    ("/some/local/checkpoint", ("paper", RULE_REAL)),
    ("toy-aligned", ("fast", RULE_TOY)),
    ("toy-gemma", ("fast", RULE_TOY)),
])
def test_default_preset_by_model(model, expected):
    assert choose_preset(None, model) == expected
    assert choose_preset("fast", model) == ("fast", RULE_GIVEN)


def test_a_toy_world_folder_is_a_toy_model(tmp_path):
    (tmp_path / "toyworld.json").write_text("{}")
    assert choose_preset(None, str(tmp_path)) == ("fast", RULE_TOY)


def test_unknown_preset_is_a_user_error():
    with pytest.raises(UserError, match="unknown preset 'slow'"):
        choose_preset("slow", "toy-aligned")


def test_synthesize_runs_the_papers_method_on_a_real_checkpoint(tiny_vlm):
    [r] = ld.synthesize(tiny_vlm, "red", steps=1, progress=False)
    assert r.config["preset"] == "paper" and r.config["copies"] == 8 and r.config["preset_rule"] == RULE_REAL
    [given] = ld.synthesize(tiny_vlm, "red", steps=1, preset="paper", progress=False)
    assert given.config["preset_rule"] == RULE_GIVEN
    assert given.config["fingerprint"] == r.config["fingerprint"]  # the same image: the rule is provenance only


def test_synthesize_keeps_fast_on_the_shipped_toy_models():
    vlm = ld.load("toy-aligned")
    [r] = ld.synthesize(vlm, "red", steps=1, progress=False)
    assert r.config["preset"] == "fast" and r.config["preset_rule"] == RULE_TOY
