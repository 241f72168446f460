"""A few training steps of every kind run on a very small toy VLM (full training does not run in CI)."""
import torch
from interrupt import interrupt_at_step

from layerdream.models.tiny import build_tiny_gemma3
from layerdream.toyworld import lm, probe, vision, world


def _small():
    return build_tiny_gemma3(
        world.VOCAB, image_size=64, patch_size=8, mm_tokens_per_image=16, seed=0,
        vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
        text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16),
    )


def test_few_step_training_of_every_stage():
    model, tok, proc = _small()
    tower = model.model.vision_tower
    before = tower.embeddings.patch_embedding.weight.clone()
    heads, m = vision.train_tower(tower, steps=1, batch=8, lr=1e-3, seed=0, robust=True, progress=lambda s: None)
    assert not torch.equal(before, tower.embeddings.patch_embedding.weight)
    assert set(m["heldout_accuracy"]) == set(world.CATEGORIES)
    rows = lm.Rows(tok, proc)
    assert rows.user_prefix == tok.convert_tokens_to_ids(["<bos>", "<start_of_turn>", "user", "\n"])
    tower_before = tower.embeddings.patch_embedding.weight.clone()
    proj_before = model.model.multi_modal_projector.mm_input_projection_weight.clone()
    m = lm.train_vlm(model, rows, steps=2, lr=1e-3, seed=0, data_seed0=0, n_img=4, n_tai=2, n_text=2,
                     align_layers=(1,), shuffle=True, progress=lambda s: None)
    assert torch.isfinite(torch.tensor(m["final"]["lm_loss"]))
    assert "align_acc_L1" in m["final"]
    assert torch.equal(tower_before, tower.embeddings.patch_embedding.weight)  # the tower stays frozen
    assert not torch.equal(proj_before, model.model.multi_modal_projector.mm_input_projection_weight)
    p = probe.probe(model, rows, n=4)
    assert set(p["real_image_alignment"]) == {"1", "2"}


def test_interrupted_tower_training_resumes_bit_identically(tmp_path, monkeypatch):
    """The tower stage saves its whole state every few steps; a resumed run equals an uninterrupted one."""
    kw = dict(steps=4, batch=4, lr=1e-3, seed=0, robust=False, pool_size=16, progress=lambda s: None)
    model, _, _ = _small()
    vision.train_tower(model.model.vision_tower, **kw)
    straight = {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}

    model, _, _ = _small()
    ckpt = tmp_path / "vision.partial.pt"
    real_step = interrupt_at_step(monkeypatch, 3)
    try:
        vision.train_tower(model.model.vision_tower, checkpoint=ckpt, checkpoint_every=2, **kw)
    except KeyboardInterrupt:
        pass
    assert torch.load(ckpt, weights_only=False)["step"] == 2
    monkeypatch.setattr(vision, "optimiser_step", real_step)
    model, _, _ = _small()  # a fresh process: nothing but the checkpoint survives
    vision.train_tower(model.model.vision_tower, checkpoint=ckpt, checkpoint_every=2, **kw)
    for k, v in model.model.vision_tower.state_dict().items():
        assert torch.equal(v, straight[k]), k
