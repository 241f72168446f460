"""Memory as a planned quantity: the model of saved activations against autograd's own count, the
planner, micro-batching that gives the same image, and out-of-memory errors that split and retry."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import layerdream as ld
from layerdream.errors import UserError
from layerdream.synthesis import memory
from layerdream.synthesis.presets import make_config

STEPS = 6


def _cfg(vlm, **kw):
    return make_config("fast", image_size=vlm.image_size, grid=vlm.grid, layer=1, num_layers=vlm.num_layers, **kw)


def _budget(vlm, concepts: float, copies: float, layer: int = 1) -> int:
    """A budget that holds ``concepts`` concepts with ``copies`` copies each (fractions leave headroom)."""
    cfg = _cfg(vlm)
    per_copy = memory.copy_cost(vlm.model.config, layer, vlm.image_size, cfg.canvas,
                                vlm.image_prompt()["input_ids"].shape[1], vlm.dtype, False, False).total
    return int(concepts * (memory.concept_bytes(cfg) + copies * per_copy))


@pytest.mark.parametrize("text,expected", [("40GiB", 40 * 2**30), ("40GB", 40 * 10**9), ("512mib", 512 * 2**20),
                                           ("1e9", 10**9), (123, 123), (None, None)])
def test_parse_bytes(text, expected):
    assert memory.parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1GiB", "40 parsecs", "0"])
def test_parse_bytes_refuses_nonsense(text):
    with pytest.raises(UserError, match="--max-memory .* is not a size; write it like 40GiB"):
        memory.parse_bytes(text)


def test_planner_fits_concepts_then_micro_batches_copies(tiny_vlm):
    cfg = _cfg(tiny_vlm)  # K = 4
    roomy = memory.plan(tiny_vlm, cfg, 1, n_targets=10, budget_bytes=_budget(tiny_vlm, 3.5, 4))
    assert (roomy.concepts_per_forward, roomy.copies_per_micro_batch, roomy.checkpoint_vision) == (3, 4, False)
    capped = memory.plan(tiny_vlm, cfg, 1, n_targets=10, budget_bytes=_budget(tiny_vlm, 3.5, 4), batch_size=2)
    assert capped.concepts_per_forward == 2
    tight = memory.plan(tiny_vlm, cfg, 1, n_targets=10, budget_bytes=_budget(tiny_vlm, 1, 2.5))
    assert (tight.concepts_per_forward, tight.copies_per_micro_batch) == (1, 2)
    assert tight.predicted_bytes() <= tight.budget_bytes
    with pytest.raises(UserError, match="one augmented copy needs about .* GiB but the memory budget is"):
        memory.plan(tiny_vlm, cfg, 1, n_targets=1, budget_bytes=1000, checkpoint_vision=False)


def test_the_copies_own_draws_are_in_the_budget(tiny_vlm):
    """Issue 24.9: --copies 100000 drew 4.6 GiB of noise per step that the per-copy terms never counted
    (15 GB RSS, over the planner's own budget). The draws are now in the plan, and copies whose draws
    alone break the budget are refused before any compute."""
    cfg = _cfg(tiny_vlm, copies=20000)
    budget = 2 * memory.draw_bytes(cfg)
    p = memory.plan(tiny_vlm, cfg, 1, n_targets=3, budget_bytes=budget)
    assert p.bytes_per_step == memory.draw_bytes(cfg) == 20000 * (3 * cfg.canvas**2 * 4 + 16)
    assert p.predicted_bytes() <= budget
    with pytest.raises(UserError, match="--copies 100000 needs .* GiB per step for the copies' noise"):
        memory.plan(tiny_vlm, _cfg(tiny_vlm, copies=100000), 1, n_targets=1, budget_bytes=budget)


def test_a_long_synthesis_says_how_long(tiny_vlm, monkeypatch):
    """What fits but is slow is measured on its first micro-batch and said once, before the wait."""
    import logging

    from layerdream.synthesis import eta

    monkeypatch.setattr(eta, "SLOW", 0.0)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("layerdream").addHandler(handler)
    try:
        ld.synthesize(tiny_vlm, ["red", "blue"], steps=2, copies=3, progress=False)
    finally:
        logging.getLogger("layerdream").removeHandler(handler)
    notes = [line for line in lines if line.startswith("this synthesis will take about")]
    assert len(notes) == 1 and "12 copy-steps" in notes[0] and "2 steps x 3 copies" in notes[0], lines


def test_micro_batched_copies_give_the_same_image_as_one_big_batch(tiny_vlm):
    whole = ld.synthesize(tiny_vlm, ["red", "blue"], steps=STEPS, preset="fast", progress=False, max_memory=2**40)
    micro = ld.synthesize(tiny_vlm, ["red", "blue"], steps=STEPS, preset="fast", progress=False,
                          max_memory=_budget(tiny_vlm, 1, 1.5))
    assert [r.config["plan"]["copies_per_micro_batch"] for r in whole] == [4, 4]
    assert [r.config["plan"]["copies_per_micro_batch"] for r in micro] == [1, 1]
    assert whole[0].config["plan"]["concepts_per_forward"] == 2 and micro[0].config["plan"]["concepts_per_forward"] == 1
    for a, b in zip(whole, micro):
        assert a.label == b.label and a.config["fingerprint"] == b.config["fingerprint"]
        assert (a.image - b.image).abs().max() < 1e-5  # float summation order only
        assert (a.to_pil().tobytes() == b.to_pil().tobytes())
        assert a.trajectory[-1]["cosine"] == pytest.approx(b.trajectory[-1]["cosine"], abs=1e-5)


def test_checkpointed_vision_same_gradients_less_memory(tiny_vlm):
    images = torch.rand(2, 3, tiny_vlm.image_size, tiny_vlm.image_size)
    grads, saved = [], []
    for on in (False, True):
        x = images.clone().requires_grad_(True)

        def run():
            with tiny_vlm.checkpointed_vision(on):
                return tiny_vlm.image_tokens(x, 2).pow(2).sum()

        saved.append(memory.measure_saved_bytes(run, exclude=list(tiny_vlm.model.parameters())))
        with tiny_vlm.checkpointed_vision(on):
            tiny_vlm.image_tokens(x, 2).pow(2).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6) and grads[0].abs().sum() > 0
    assert saved[1] < saved[0]
    assert tiny_vlm.vision_layers()[0].forward.__func__ is type(tiny_vlm.vision_layers()[0]).forward  # restored


def test_out_of_memory_splits_the_batch_and_retries(tiny_vlm, monkeypatch):
    reference = ld.synthesize(tiny_vlm, ["red", "blue", "green"], steps=STEPS, preset="fast", progress=False)
    real = type(tiny_vlm).image_tokens
    seen = []

    def limited(self, images, layer, prompt_format="chat"):
        seen.append(images.shape[0])
        if images.shape[0] > 2 and torch.is_grad_enabled():  # more than two copies in one forward: "OOM"
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(self, images, layer, prompt_format)

    monkeypatch.setattr(type(tiny_vlm), "image_tokens", limited)
    retried = ld.synthesize(tiny_vlm, ["red", "blue", "green"], steps=STEPS, preset="fast", progress=False, max_memory=2**40)
    assert [r.label for r in retried] == ["red", "blue", "green"]
    assert all(r.config["plan"]["concepts_per_forward"] == 1 for r in retried)
    assert all(r.config["plan"]["copies_per_micro_batch"] == 2 for r in retried)
    for a, b in zip(reference, retried):
        assert (a.image - b.image).abs().max() < 1e-5
    assert max(s for s in seen if s <= 2) == 2


def test_out_of_memory_with_one_copy_is_one_clear_line(tiny_vlm, monkeypatch):
    def always(self, images, layer, prompt_format="chat"):
        if torch.is_grad_enabled():
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return real(self, images, layer, prompt_format)

    real = type(tiny_vlm).image_tokens
    monkeypatch.setattr(type(tiny_vlm), "image_tokens", always)
    with pytest.raises(UserError, match="out of memory with one copy of one concept at layer 1"):
        ld.synthesize(tiny_vlm, "red", steps=2, preset="fast", progress=False)


def test_other_runtime_errors_are_not_swallowed(tiny_vlm, monkeypatch):
    def broken(self, images, layer, prompt_format="chat"):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(type(tiny_vlm), "image_tokens", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        ld.synthesize(tiny_vlm, "red", steps=2, preset="fast", progress=False)


def test_memory_model_matches_saved_tensors_at_real_widths():
    """SigLIP-So400m and Gemma 3 4B widths (one block each, 224 px so that it runs in a second)."""
    from layerdream.models.gemma3 import Gemma3Adapter
    from layerdream.models.tiny import build_tiny_gemma3
    from layerdream.models.vlm import VLM
    from layerdream.synthesis.objective import aggregate, centre

    model, _, processor = build_tiny_gemma3(
        ["red"], image_size=224, patch_size=14, mm_tokens_per_image=64,
        vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=1, num_attention_heads=16),
        text=dict(hidden_size=2560, intermediate_size=10240, num_hidden_layers=1, num_attention_heads=8,
                  num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256))
    model = model.to(torch.bfloat16).requires_grad_(False)
    vlm = VLM(model, processor, Gemma3Adapter(model, processor), name="widths")
    prompt_length = vlm.image_prompt()["input_ids"].shape[1]
    gray = vlm.gray_reference(1)
    for ckpt in (False, True):
        x = torch.rand(2, 3, 224, 224, requires_grad=True)

        def step():
            with vlm.checkpointed_vision(ckpt):
                z = centre(vlm.image_tokens(x, 1), gray)
                return aggregate(z, torch.randn(2, 2560), vlm.grid, sigma=4.0, tau=0.1).sum()

        measured = memory.measure_saved_bytes(step, exclude=list(model.parameters())) / 2
        predicted = memory.copy_cost(model.config, 1, 224, 112, prompt_length, torch.bfloat16, ckpt,
                                     fused_attention=False).saved
        assert 0.8 < predicted / measured < 1.25, (ckpt, predicted, measured)


def test_synthesize_cli_memory_flags(tiny_folder, tmp_path):
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "layerdream.cli", "synthesize", "red", "blue", "--model",
                               str(tiny_folder), "--steps", "2", "--quiet", "--out", str(tmp_path), *extra],
                              capture_output=True, text=True)

    ok = run("--batch", "1", "--max-memory", "2GiB", "--checkpoint-vision", "on")
    assert ok.returncode == 0, ok.stderr
    import json

    meta = json.loads((tmp_path / "red_L1_s0.json").read_text())
    assert meta["config"]["plan"]["concepts_per_forward"] == 1 and meta["config"]["plan"]["checkpoint_vision"]
    assert meta["config"]["dtype"] == "float32"
    bad = run("--max-memory", "lots", "--overwrite")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "write it like 40GiB" in bad.stderr
