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


def test_lr_and_tau_say_where_they_came_from():
    """Issue 19 item 3: tau 0.079 at layer 8 of 34 is interpolated; the config (and so the fingerprint) says so."""
    from layerdream.synthesis.presets import make_config

    geo = dict(image_size=896, grid=(16, 16), num_layers=34)
    at8 = make_config("paper", layer=8, **geo)
    assert (at8.lr_source, at8.tau_source, at8.paper_layer) == ("interpolated", "interpolated", 8.0)
    assert at8.tau == pytest.approx(0.0792, abs=1e-4)
    at10 = make_config("paper", layer=10, **geo)
    assert (at10.lr, at10.tau, at10.lr_source, at10.tau_source) == (0.15, 0.5, "paper", "paper")
    pinned = make_config("paper", layer=8, lr=0.04, **geo)
    assert (pinned.lr, pinned.lr_source, pinned.tau_source) == (0.04, "given", "interpolated")
    same = make_config("paper", layer=10, lr=0.15, **geo)  # the table's own value typed out: no override
    assert same.to_dict() == at10.to_dict()
    fast = make_config("fast", layer=1, **geo)
    assert (fast.lr_source, fast.tau_source, fast.paper_layer) == ("preset", "preset", None)
    with pytest.raises(UserError, match="unknown synthesis option 'lr_source'"):  # provenance, not an option
        make_config("fast", layer=1, lr_source="paper", **geo)


def test_results_record_interpolated_lr_tau_and_the_fingerprint_knows(tiny_vlm):
    """The tiny model has 3 layers: layer 1 maps to Gemma 3 4B layer 11.3, between the paper's 10 and 15."""
    from layerdream.synthesis.loop import fingerprint

    [r] = ld.synthesize(tiny_vlm, "red", steps=1, preset="paper", progress=False)
    cfg = r.config
    assert cfg["lr_source"] == cfg["tau_source"] == "interpolated" and cfg["paper_layer"] == pytest.approx(11.333)
    assert cfg["lr"] > 0 and cfg["tau"] > 0
    as_paper = {k: v for k, v in cfg.items() if k != "fingerprint"} | {"lr_source": "paper", "tau_source": "paper"}
    assert fingerprint(as_paper, "red") != cfg["fingerprint"]


def test_every_result_says_how_many_tokens_its_representation_rests_on(tiny_vlm):
    """Issue 19 item 4: exp(entropy) of the final attention weights; mean pooling rests on all of them."""
    import torch

    from layerdream.synthesis.objective import attention_weights, effective_tokens

    z = torch.randn(2, 16, 8)
    v = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    hard = attention_weights(z, v, (4, 4), sigma=2.0, tau=0.005, weighting="paper")
    assert float(effective_tokens(hard).max()) < 1.5
    assert torch.allclose(effective_tokens(attention_weights(z, v, (4, 4), sigma=2.0, tau=0.1, weighting="mean")),
                          torch.full((2,), 16.0, dtype=torch.float64))
    free = attention_weights(z, v, (4, 4), sigma=0.5, tau=1e3, weighting="noprior")  # no prior: nearly uniform
    assert float(effective_tokens(free).min()) > 15.9
    [paper] = ld.synthesize(tiny_vlm, "red", steps=2, preset="fast", progress=False)
    [mean] = ld.synthesize(tiny_vlm, "red", steps=2, preset="fast", weighting="mean", progress=False)
    P = tiny_vlm.grid[0] * tiny_vlm.grid[1]
    assert paper.image_tokens == mean.image_tokens == P
    assert 1.0 <= paper.effective_tokens <= P and mean.effective_tokens == pytest.approx(P)
    assert paper.metadata()["effective_tokens"] == paper.effective_tokens
