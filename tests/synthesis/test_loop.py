"""The optimisation loop on a tiny real Gemma 3: it improves, it is deterministic, batching is neutral."""
import pytest
import torch

import layerdream as ld
from layerdream.errors import UserError

FEW = dict(steps=40, preset="fast", progress=False)  # the loop's mechanics, not the default preset (test_presets.py)


@pytest.fixture(scope="module")
def runs(tiny_vlm):
    return ld.synthesize(tiny_vlm, ["red", "dog"], layers=[1, 2], seeds=[0], **FEW)


def test_objective_rises_clearly(runs):
    for r in runs:
        cos = [t["cosine"] for t in r.trajectory]
        assert sum(cos[-5:]) / 5 > sum(cos[:5]) / 5 + 0.1, (r.label, r.layer, cos[:5], cos[-5:])
        assert r.cosine_final > r.cosine_initial
        assert len(r.trajectory) == 40 and r.image.shape == (3, 32, 32)
        assert 0 <= r.image.min() and r.image.max() <= 1 and r.image.std() > 0


def test_per_position_centring_starts_at_zero(tiny_vlm):
    [r] = ld.synthesize(tiny_vlm, "red", layers=1, per_position_centring=True, **FEW)
    assert r.cosine_initial == pytest.approx(0.0, abs=1e-6)  # the gray start *is* the baseline
    assert r.cosine_final > 0.2 and r.config["per_position_centring"] is True


def test_results_order_and_metadata(runs):
    assert [(r.label, r.layer) for r in runs] == [("red", 1), ("dog", 1), ("red", 2), ("dog", 2)]
    meta = runs[0].metadata()
    for key in ("concept", "layer", "seed", "model", "preset", "steps", "cosine_initial", "cosine_final",
                "seconds", "config", "versions"):
        assert key in meta
    assert meta["hook_point"] == "blocks.0.hook_resid_post" and meta["versions"]["transformers"].startswith("5.")


def test_same_seed_same_image_and_batching_is_neutral(tiny_vlm, runs):
    again = ld.synthesize(tiny_vlm, "dog", layers=1, seeds=0, **FEW)[0]
    torch.testing.assert_close(again.image, runs[1].image, atol=1e-5, rtol=0)  # alone vs batched with "red"
    repeat = ld.synthesize(tiny_vlm, "dog", layers=1, seeds=0, **FEW)[0]
    assert torch.equal(repeat.image, again.image)
    other = ld.synthesize(tiny_vlm, "dog", layers=1, seeds=1, **FEW)[0]
    assert not torch.allclose(other.image, again.image)


def test_vector_targets_and_negatives(tiny_vlm):
    direction = torch.randn(tiny_vlm.hidden_size, generator=torch.Generator().manual_seed(3))
    [r] = ld.synthesize(tiny_vlm, targets={"random-0": direction}, layers=1, **FEW)
    assert r.target == "vector" and r.cosine_final > r.cosine_initial + 0.1
    plain, pushed = (ld.synthesize(tiny_vlm, "red", layers=1, negatives=neg, **FEW)[0] for neg in (None, {"blue": 1.0}))
    blue = ld.concept_vector(tiny_vlm, "blue", 1)
    cos_blue = [torch.nn.functional.cosine_similarity(ld.image_representation(tiny_vlm, r.image[None], 1), blue[None]).item()
                for r in (plain, pushed)]
    assert cos_blue[1] < cos_blue[0]
    assert pushed.config["negatives"] == {"blue": 1.0}


def test_snapshots_and_save(tiny_vlm, tmp_path):
    [r] = ld.synthesize(tiny_vlm, "T-rex", layers=2, seeds=3, steps=6, snapshots=[2, 4], preset="fast", progress=False)
    assert sorted(r.snapshots) == [2, 4]
    png, js = r.save(tmp_path)
    assert png.name == "t_rex_0b6e84c1_L2_s3.png" and js.name == "t_rex_0b6e84c1_L2_s3.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t_rex_0b6e84c1_L2_s3.json", "t_rex_0b6e84c1_L2_s3.png",
                                                          "t_rex_0b6e84c1_L2_s3_step2.png", "t_rex_0b6e84c1_L2_s3_step4.png"]


def test_nan_is_caught_with_a_clear_error(tiny_vlm, monkeypatch):
    real = type(tiny_vlm).image_tokens  # patched on the class: an instance patch of the session-scoped model
    # outlives the test on pytest 8 (its undo leaves an instance attribute that shadows later class patches)
    monkeypatch.setattr(type(tiny_vlm), "image_tokens", lambda self, x, l, f="chat": real(self, x, l, f) * float("nan")
                        if x.requires_grad or x.shape[0] > 1 else real(self, x, l, f))
    with pytest.raises(UserError, match="NaN/inf"):
        ld.synthesize(tiny_vlm, "red", layers=1, steps=10, copies=2, preset="fast", progress=False)


def test_bad_input(tiny_vlm):
    with pytest.raises(UserError, match="out of range"):
        ld.synthesize(tiny_vlm, "red", layers=7, **FEW)
    with pytest.raises(UserError, match="vocabulary"):
        ld.synthesize(tiny_vlm, ["red", "jupiter"], layers=1, **FEW)
    with pytest.raises(UserError, match="nothing to synthesise"):
        ld.synthesize(tiny_vlm, [], layers=1, **FEW)
    with pytest.raises(UserError, match="dimensions"):
        ld.synthesize(tiny_vlm, targets={"x": torch.ones(3)}, layers=1, **FEW)


def test_text_only_checkpoint_refuses_synthesis_in_one_line(tiny_vlm, monkeypatch):
    monkeypatch.setattr(type(tiny_vlm), "image_size", property(lambda self: 0))
    with pytest.raises(UserError, match="no vision tower"):
        ld.synthesize(tiny_vlm, "red", layers=1, **FEW)


def test_batching_is_neutral_with_start_noise_too(tiny_vlm):
    """The start noise is one draw per seed shared by the batch: an image never depends on its batch-mates."""
    together = ld.synthesize(tiny_vlm, ["red", "blue"], steps=4, preset="fast", progress=False, init_noise=0.1)
    alone = ld.synthesize(tiny_vlm, ["blue"], steps=4, preset="fast", progress=False, init_noise=0.1, batch_size=1)
    assert torch.allclose(together[1].image, alone[0].image, atol=1e-5)
    assert together[1].config["fingerprint"] == alone[0].config["fingerprint"]


def test_fingerprint_knows_the_baseline_words_and_the_target_values(tiny_vlm, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("the\na\nof\n")
    [first] = ld.synthesize(tiny_vlm, "red", steps=2, preset="fast", progress=False, baseline=words)
    words.write_text("the\na\nof\nis\n")  # same path, other words: another concept vector
    [second] = ld.synthesize(tiny_vlm, "red", steps=2, preset="fast", progress=False, baseline=words)
    assert first.config["fingerprint"] != second.config["fingerprint"]
    a = ld.synthesize(tiny_vlm, targets={"dir": torch.ones(tiny_vlm.hidden_size)}, steps=2, preset="fast", progress=False)[0]
    b = ld.synthesize(tiny_vlm, targets={"dir": -torch.ones(tiny_vlm.hidden_size)}, steps=2, preset="fast", progress=False)[0]
    assert a.config["fingerprint"] != b.config["fingerprint"]
