"""Training the toy-gemma adapters: next-token captioning through the frozen Gemma 3 270M (and, for
``toy-gemma-cotrained``, LLaVA's second stage: the LM trained too, through LoRA factors from
``gemma_lora`` or its own block weights, with a text-retention KL; ``RECIPES``).

Only what adapter VLMs do: image -> tower -> projector -> the product's image prompt (raw, as for a
pretrained checkpoint: ``<bos>`` + the image block) -> the caption right after it, loss on the caption
tokens. The
positive control adds the toy world's alignment loss (``lm.align_loss``) at layers 1-2 against the
product's concept vectors, which are fixed here because the LM is frozen.

Why it is cheap enough for a laptop: the LM's 100M block weights get no gradients (only activations
do), the loss reads only the caption vocabulary's rows of the tied embedding (a 262k-way softmax
would cost more than the 18 blocks), and every stage saves its whole state (weights, optimiser,
schedule, random generator) every ``checkpoint_every`` steps, so an interrupted stage resumes where it
was and ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UserError
from . import world
from .lm import align_loss


class MLPProjector(nn.Module):
    """LLaVA's projector (Linear-GELU-Linear) after Gemma 3's pooling and norm: an ablation only (a folder
    with it is not a ``Gemma3ForConditionalGeneration`` checkpoint, so it is never shipped)."""

    def __init__(self, gemma_projector: nn.Module, d_text: int):
        super().__init__()
        self.pool = gemma_projector
        d_vis = gemma_projector.mm_input_projection_weight.shape[0]
        self.mlp = nn.Sequential(nn.Linear(d_vis, d_text), nn.GELU(), nn.Linear(d_text, d_text))

    def forward(self, vision_outputs: torch.Tensor) -> torch.Tensor:
        p = self.pool
        b, n, d = vision_outputs.shape
        x = vision_outputs.transpose(1, 2).reshape(b, d, p.patches_per_image, p.patches_per_image)
        x = p.avg_pool(x).flatten(2).transpose(1, 2)
        return self.mlp(p.mm_soft_emb_norm(x))


class Layout:
    """The product's image prompt and the caption vocabulary, from the real tokenizer and processor."""

    def __init__(self, model, proc):
        self.tok = proc.tokenizer
        vlm = wrap(model, proc)
        self.prompt_format = vlm.resolve_prompt_format("chat")  # raw: the 270M has no chat template
        enc = vlm.adapter.image_prompt(self.prompt_format)  # exactly the prompt synthesis will use
        self.prompt = enc["input_ids"][0].tolist()
        self.prompt_tt = enc["token_type_ids"][0].tolist()
        self.eot = self.tok.convert_tokens_to_ids("<end_of_turn>")
        self.pad = self.tok.pad_token_id
        self.img_pos = torch.tensor([i for i, t in enumerate(self.prompt) if t == model.config.image_token_id])
        # every token any caption can contain: each template with each concept in each slot
        ids = set()
        for t in range(len(world.TEMPLATES)):
            for cat, names in world.CATEGORIES.items():
                for name in names:
                    f = {c: n[0] for c, n in world.CATEGORIES.items()} | {cat: name}
                    ids.update(self.encode([world.caption(f, t)])[0])
        self.vocab = torch.tensor(sorted(ids))
        self.to_vocab = {int(t): i for i, t in enumerate(self.vocab)}

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.tok(texts, add_special_tokens=False)["input_ids"]

    def batch(self, captions: list[list[int]]) -> dict:
        """Image rows (prompt + caption), right-padded; targets index the caption vocabulary.

        No ``<end_of_turn>`` target: the frozen 270M gives it 26 nats after a caption, a loss no adapter
        can lower, which would only swamp the caption words' gradient."""
        rows = [self.prompt + c for c in captions]
        n = max(len(r) for r in rows)
        targets = torch.full((len(rows), n), -100)
        for i, c in enumerate(captions):
            for j, t in enumerate(c):
                targets[i, len(self.prompt) + j] = self.to_vocab[t]
        pad = lambda xs, v: torch.tensor([x + [v] * (n - len(x)) for x in xs])  # noqa: E731
        return {"input_ids": pad(rows, self.pad), "attention_mask": pad([[1] * len(r) for r in rows], 0),
                "token_type_ids": pad([self.prompt_tt + [0] * (len(r) - len(self.prompt_tt)) for r in rows], 0),
                "targets": targets}


def forward(model, layout: Layout, b: dict, images01: torch.Tensor):
    """(caption-vocabulary logits, hidden states) for a batch of image rows."""
    out = model.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], token_type_ids=b["token_type_ids"],
                      pixel_values=(images01 - 0.5) / 0.5, use_cache=False, output_hidden_states=True)
    emb = model.model.language_model.embed_tokens.weight[layout.vocab]  # the LM head is tied to the embedding
    return out.last_hidden_state @ emb.T, out.hidden_states


def caption_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets[:, 1:].reshape(-1), ignore_index=-100)


def trainable(model, *, train_tower: bool, lm_params: list[nn.Parameter] = ()) -> list[nn.Parameter]:
    model.requires_grad_(False)
    mods = [model.model.multi_modal_projector] + ([model.model.vision_tower] if train_tower else [])
    params = [p for m in mods for p in m.parameters()] + list(lm_params)
    for p in params:
        p.requires_grad_(True)
    return params


def train(model, layout: Layout, *, steps: int, lr: float, seed: int, batch: int = 16, train_tower: bool = False,
          tower_lr_scale: float = 0.1, align_layers: tuple[int, ...] = (), concept_vectors: dict | None = None,
          pool_size: int = 4096, data_seed: int = 1, checkpoint: Path | None = None, checkpoint_every: int = 50,
          progress: Callable[[str], None] = print, name: str = "gemma", bf16: bool = False,
          lm_params: list[nn.Parameter] = (), lm_lr: float | None = None, retention=None, retention_weight: float = 1.0,
          retention_rows: int = 4) -> dict:
    """Train the projector (and the tower when ``train_tower``, and ``lm_params`` of the LM at ``lm_lr``:
    LoRA factors or block weights) in place; returns the stage's metrics. ``retention``
    (``gemma_lora.Retention``) adds its KL on ``retention_rows`` text rows per step."""
    from . import vision

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    params = trainable(model, train_tower=train_tower, lm_params=lm_params)
    groups = [{"params": list(model.model.multi_modal_projector.parameters()), "lr": lr}]
    if train_tower:
        groups.append({"params": list(model.model.vision_tower.parameters()), "lr": lr * tower_lr_scale})
    if lm_params:
        groups.append({"params": list(lm_params), "lr": lm_lr or lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[gr["lr"] for gr in groups], total_steps=steps, pct_start=0.05)
    start, history, kls = 0, [], []
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, weights_only=False)
        unexpected = model.load_state_dict(state["model"], strict=False).unexpected_keys
        if unexpected:  # a checkpoint of another recipe (e.g. LoRA weights into a model without adapters)
            raise RuntimeError(f"{checkpoint} does not fit this recipe: {unexpected[:3]}; delete it to start over")
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        g.set_state(state["generator"])
        start, history, kls = state["step"], state["history"], state.get("retention_kl", [])
        progress(f"  {name}: resuming at step {start + 1}/{steps} from {checkpoint}")
    pool = world.pool(pool_size, data_seed)
    gray = torch.full((1, 3, world.IMAGE_SIZE, world.IMAGE_SIZE), 0.5)
    t0, last = time.time(), {}
    for step in range(start, steps):
        images, factors = world.pool_batch(pool, batch, g)
        caps = layout.encode([world.caption(f, int(torch.randint(len(world.TEMPLATES), (1,), generator=g))) for f in factors])
        if align_layers:  # the gray image rides along, without a caption, for the centring
            images, caps = torch.cat([images, gray]), caps + [[]]
        b = layout.batch(caps)
        # autocast per step: inside one long autocast region the bf16 copies of the trained weights are
        # cached at the first forward and never refreshed, so the model would train on its initial weights
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, hs = forward(model, layout, b, images)
        loss = caption_loss(logits.float(), b["targets"])
        last = {"caption_loss": round(loss.item(), 4)}
        if retention is not None:
            rows = torch.randperm(len(retention.train_ids), generator=g)[:retention_rows]
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
                kl = retention.loss(model, rows)
            loss = loss + retention_weight * kl
            last["retention_kl"] = round(kl.item(), 5)
        for layer in align_layers:
            h = hs[layer].float()[:, layout.img_pos].mean(1)
            z = h[:batch] - h[batch]
            if z.norm(dim=-1).min() < 1e-3:  # zero-init projector: every image is the gray image, no direction
                continue  # to align yet (normalising zero gives an infinite gradient); from the next step on
            a_loss, acc = align_loss(z, concept_vectors[layer], factors)
            loss = loss + a_loss / len(align_layers)
            last[f"align_acc_L{layer}"] = {k: round(v, 3) for k, v in acc.items()}
        vision.optimiser_step(loss, opt, sched, params)
        history.append(last["caption_loss"])
        kls.append(last.get("retention_kl", 0.0))
        if step % 25 == 0 or step == steps - 1:
            progress(f"  {name} step {step + 1}/{steps} loss {loss.item():.3f} {last} ({time.time() - t0:.0f}s)")
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            _save_progress(Path(checkpoint), step + 1, model, opt, sched, g, history, kls)
    model.requires_grad_(False).eval()
    return {"steps": steps, "lr": lr, "batch": batch, "train_tower": train_tower, "align_layers": list(align_layers),
            "lm_lr": lm_lr if lm_params else None, "lm_parameters": sum(p.numel() for p in lm_params),
            "retention_weight": retention_weight if retention is not None else 0.0,
            "retention_kl_by_100_steps": [round(sum(kls[i:i + 100]) / len(kls[i:i + 100]), 5) for i in range(0, len(kls), 100)],
            "seconds": round(time.time() - t0, 1), "final": last,
            "caption_loss_by_100_steps": [round(sum(history[i:i + 100]) / len(history[i:i + 100]), 4)
                                          for i in range(0, len(history), 100)]}


def _save_progress(path: Path, step: int, model, opt, sched, g: torch.Generator, history: list, kls: list) -> None:
    """The whole state: every trained weight (projector, tower, LoRA factors or LM blocks), optimiser,
    schedule, data generator and the loss histories."""
    from ..io import atomic_write_bytes

    buf = io.BytesIO()
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    torch.save({"step": step, "model": trained, "opt": opt.state_dict(), "sched": sched.state_dict(),
                "generator": g.get_state(), "history": history, "retention_kl": kls}, buf)
    atomic_write_bytes(path, buf.getvalue())


PROBE_LAYERS = (1, 2, 4, 6, 9, 12, 18)


def wrap(model, proc, name: str = "toy-gemma"):
    """The product's ``VLM`` around a toy-gemma model (for concept vectors exactly as the product makes them)."""
    from ..models.gemma3 import Gemma3Adapter
    from ..models.vlm import VLM

    return VLM(model, proc, Gemma3Adapter(model, proc), name=name)


@torch.no_grad()
def probe(model, proc, layout: Layout, *, n: int = 280, seed: int = 424_242, layers=PROBE_LAYERS) -> dict:
    """Does the model read the images (teacher-forced concept words), and where do its image tokens meet
    the concept vectors (within-category retrieval on held-out images; the study's measurement)?"""
    from ..concepts import concept_vectors
    from .lm import _CAT_SLICES, CONCEPT_IDX

    model.eval()
    images, factors, _ = world.sample(n, seed)
    caps = layout.encode([world.caption(f, 0) for f in factors])
    b = layout.batch(caps + [[]])
    logits, hs = forward(model, layout, b, torch.cat([images, torch.full((1, 3, world.IMAGE_SIZE, world.IMAGE_SIZE), 0.5)]))
    pred, targets = logits[:n].argmax(-1), b["targets"][:n]
    reads = {}
    for cat in world.CATEGORIES:
        hits = []
        for i, f in enumerate(factors):
            tid = layout.to_vocab[layout.encode([f"a {f[cat]}"])[0][-1]]
            t = int((targets[i] == tid).nonzero()[0])
            hits.append(float(pred[i, t - 1] == tid))
        reads[cat] = round(sum(hits) / n, 3)
    vlm = wrap(model, proc)
    retrieval = {}
    for layer in layers:
        V = concept_vectors(vlm, world.CONCEPTS, layer)
        h = hs[layer].float()[:, layout.img_pos].mean(1)
        cos = F.normalize(h[:n] - h[n], dim=-1) @ V.T
        retrieval[str(layer)] = {
            cat: round(float((cos[:, sl].argmax(-1) + sl.start == torch.tensor([CONCEPT_IDX[f[cat]] for f in factors]))
                             .float().mean()), 3) for cat, sl in _CAT_SLICES.items()}
    return {"n": n, "seed": seed, "caption_word_accuracy": reads, "retrieval": retrieval,
            "chance": {c: round(1 / len(v), 3) for c, v in world.CATEGORIES.items()}}


# The shipped recipes. ``tokens``: image tokens (16 = the toy world's 4x4 grid; 64 = one per patch).
RECIPES: dict[str, dict] = {
    "toy-gemma": dict(tokens=16, projector="gemma", train_tower=False, steps=600, lr=3e-3, batch=16, align_layers=()),
    "toy-gemma-aligned": dict(tokens=16, projector="gemma", train_tower=False, steps=600, lr=3e-3, batch=16,
                              align_layers=(1, 2)),
    # LLaVA's stage 2: from toy-gemma's trained tower and projector, the projector and the LM (LoRA on
    # all 18 blocks' attention and MLP projections) trained on the same captions, plus text retention
    "toy-gemma-cotrained": dict(tokens=16, projector="gemma", train_tower=False, steps=300, lr=1e-3, batch=16,
                                align_layers=(), start="toy-gemma", lm="lora", lora_rank=8, lora_alpha=16,
                                lora_blocks="all", lm_lr=1e-3, retention=1.0),
}


def run_recipe(recipe: dict, *, seed: int, vision_config: dict, tower_state: dict, checkpoint: Path | None = None,
               progress: Callable[[str], None] = print, name: str = "toy-gemma", probe_n: int = 280,
               precision: str = "bf16", checkpoint_every: int = 50):
    """Build, train and probe one toy-gemma model: ``(model, processor, metrics)``.

    The stages and the study script (``scripts/toy_gemma_study.py``) both come through here, so a
    seed of a recipe is the same model whichever ran it. ``precision="bf16"`` trains under CPU/GPU
    autocast (the frozen LM's matmuls in bf16: 1.9x faster on an AMX CPU); weights stay fp32.
    """
    from ..concepts import concept_vectors
    from .gemma import assemble, config, processor

    torch.manual_seed(seed)
    if recipe.get("start") and not any(k.startswith("model.multi_modal_projector.") for k in tower_state):
        raise UserError(f"this recipe continues from {recipe['start']}: pass its weights (tower and projector)")
    model = assemble(config(vision_config, recipe["tokens"]), tower_state)
    if recipe["projector"] == "mlp":
        model.model.multi_modal_projector = MLPProjector(model.model.multi_modal_projector,
                                                         model.config.text_config.hidden_size)
    proc = processor(recipe["tokens"])
    layout = Layout(model, proc)
    align = tuple(recipe["align_layers"])
    targets = {layer: concept_vectors(wrap(model, proc), world.CONCEPTS, layer) for layer in align}
    lm_params, retention, frozen_vectors = [], None, {}
    layers = tuple(recipe.get("probe_layers", PROBE_LAYERS))  # probed layers (tests probe fewer)
    if recipe.get("lm"):  # the LM is trained too: retention data and reference vectors from the frozen LM first
        from . import gemma_lora

        retention = gemma_lora.Retention(model, proc.tokenizer, bf16=precision == "bf16",
                                         **recipe.get("retention_data", {}))
        frozen_vectors = {layer: concept_vectors(wrap(model, proc), world.CONCEPTS, layer) for layer in layers}
        lm_params = lm_parameters(model, recipe)
    metrics = train(model, layout, steps=recipe["steps"], lr=recipe["lr"], seed=seed, batch=recipe["batch"],
                    train_tower=recipe["train_tower"], align_layers=align, concept_vectors=targets, bf16=precision == "bf16",
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress, name=name,
                    lm_params=lm_params, lm_lr=recipe.get("lm_lr"),
                    retention=retention if recipe.get("retention", 0) > 0 else None,
                    retention_weight=recipe.get("retention", 0.0))
    metrics.update(recipe=dict(recipe, align_layers=list(align)), seed=seed, precision=precision,
                   probe=probe(model, proc, layout, n=probe_n, layers=layers))
    if retention is not None:  # how much the language model changed
        metrics["lm_drift"] = retention.drift(model)
        vectors = {layer: concept_vectors(wrap(model, proc), world.CONCEPTS, layer) for layer in layers}
        metrics["concept_vector_cosine_to_frozen"] = gemma_lora.concept_drift(frozen_vectors, vectors)
    return model, proc, metrics


def lm_parameters(model, recipe: dict) -> list[nn.Parameter]:
    """The LM weights a recipe trains: LoRA factors (``lm="lora"``, injected here) or the blocks' own
    attention and MLP weights (``lm="full"``), on ``lora_blocks`` (all, first-K, last-K)."""
    from . import gemma_lora

    n = model.config.text_config.num_hidden_layers
    blocks = gemma_lora.blocks_of(recipe.get("lora_blocks", "all"), n)
    if recipe["lm"] == "lora":
        return gemma_lora.inject(model, rank=recipe["lora_rank"], alpha=recipe["lora_alpha"], blocks=blocks)
    if recipe["lm"] == "full":
        mods = dict(model.named_modules())
        return [mods[f"model.language_model.layers.{i}.{t}"].weight for i in blocks for t in gemma_lora.TARGETS]
    raise UserError(f"unknown LM training {recipe['lm']!r}; use lora or full")
