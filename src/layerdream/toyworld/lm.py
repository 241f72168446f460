"""Training the toy VLMs' language side: text pre-training, projector, joint fine-tune, alignment.

Every training sequence uses the product's own layouts, so what is trained is what is measured:
* image rows are the processor's image-only chat prompt (``<bos><start_of_turn>user\\n`` + image block
  + ``<end_of_turn>\\n<start_of_turn>model\\n``) followed by the caption as the model's answer;
* text rows are a user turn holding one sentence, so a word that opens a sentence sits exactly where
  a concept word sits when ``concept_vectors`` reads it (after ``<bos><start_of_turn>user\\n``).

The alignment loss (toy-aligned, toy-shuffled) uses the paper's concept vectors computed the
product's way with the in-training model: the word alone in the chat template, its layer-l state
(causal attention: only ``<bos><start_of_turn>user\\n{word}`` matters), minus the mean over the
baseline words, normalised; detached, so only the image side moves. The image side is the mean of
the image tokens' layer-l states minus the mean token of a uniform-gray (0.5) image.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F

from . import world
from .vision import optimiser_step

CONCEPT_IDX = {c: i for i, c in enumerate(world.CONCEPTS)}
_CAT_SLICES, _start = {}, 0
for _cat, _names in world.CATEGORIES.items():
    _CAT_SLICES[_cat] = slice(_start, _start + len(_names))
    _start += len(_names)


class Rows:
    """Token layouts (taken from the tokenizer and processor themselves) and batch assembly."""

    def __init__(self, tokenizer, processor):
        from PIL import Image

        self.tok = tokenizer
        ids = tokenizer.convert_tokens_to_ids
        self.pad, self.eot, self.img, self.dot = ids("<pad>"), ids("<end_of_turn>"), ids("<image_soft_token>"), ids(".")
        prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}]}],
                                               tokenize=False, add_generation_prompt=True)
        enc = processor(text=prompt, images=[Image.new("RGB", (8, 8), (128, 128, 128))], return_tensors="pt")
        self.image_prompt = enc["input_ids"][0].tolist()
        self.image_tt = enc["token_type_ids"][0].tolist()
        self.img_pos = torch.tensor([i for i, t in enumerate(self.image_prompt) if t == self.img])
        word_prompt = tokenizer.apply_chat_template([{"role": "user", "content": "red"}], tokenize=False,
                                                    add_generation_prompt=True)
        wp = tokenizer(word_prompt, add_special_tokens=False)["input_ids"]
        self.word_pos = wp.index(ids("red"))
        self.user_prefix = wp[: self.word_pos]  # <bos><start_of_turn>user\n

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.tok(texts, add_special_tokens=False)["input_ids"] if texts else []

    def batch(self, captions: list[list[int]], sentences: list[list[int]]) -> dict:
        """Image rows (one per caption) first, then text rows; right-padded; labels -100 outside answers."""
        rows, labels, tts = [], [], []
        for cap in captions:
            rows.append(self.image_prompt + cap + ([self.eot] if cap else []))
            labels.append([-100] * len(self.image_prompt) + cap + ([self.eot] if cap else []))
            tts.append(self.image_tt + [0] * (len(rows[-1]) - len(self.image_tt)))
        for s in sentences:
            rows.append(self.user_prefix + s + [self.eot])
            labels.append([-100] * len(self.user_prefix) + s + [self.eot])
            tts.append([0] * len(rows[-1]))
        n = max(len(r) for r in rows)
        pad = lambda xs, v: torch.tensor([x + [v] * (n - len(x)) for x in xs])  # noqa: E731
        return {"input_ids": pad(rows, self.pad), "labels": pad(labels, -100), "token_type_ids": pad(tts, 0),
                "attention_mask": pad([[1] * len(r) for r in rows], 0), "n_img": len(captions)}

    def word_ids(self, words: list[str]) -> torch.Tensor:
        return torch.tensor([self.user_prefix + self.encode([w])[0] for w in words])


def image_features(model, images01: torch.Tensor, train_tower: bool = False) -> torch.Tensor:
    """Projected image tokens (N, 16, d); the tower runs without gradients unless it is trained."""
    with torch.set_grad_enabled(train_tower):
        vis = model.model.vision_tower(pixel_values=(images01 - 0.5) / 0.5).last_hidden_state
    return model.model.multi_modal_projector(vis)


def forward(model, b: dict, slot_embeds: torch.Tensor | None):
    """Run the LM with ``slot_embeds`` (n_img, 16, d) placed in the image slots of the image rows."""
    lm = model.model.language_model
    emb = lm.embed_tokens(b["input_ids"])
    if slot_embeds is not None and b["n_img"]:
        rows = torch.arange(b["n_img"]).repeat_interleave(len(_img_pos(b)))
        cols = _img_pos(b).repeat(b["n_img"])
        emb = emb.index_put((rows, cols), slot_embeds.reshape(-1, emb.shape[-1]).to(emb.dtype))
    out = model.model(inputs_embeds=emb, attention_mask=b["attention_mask"], token_type_ids=b["token_type_ids"],
                      use_cache=False, output_hidden_states=True)
    logits = model.lm_head(out.last_hidden_state)
    cap = model.config.get_text_config().final_logit_softcapping
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits, out.hidden_states


def _img_pos(b):
    return b["img_pos"]


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


@torch.no_grad()
def concept_targets(model, rows: Rows, layers: list[int]) -> dict[int, torch.Tensor]:
    """{layer: (C, d)} unit concept vectors, the product's definition, from the current model."""
    words = [*world.CONCEPTS, *world.BASELINE_WORDS]
    hs = model.model(input_ids=rows.word_ids(words), use_cache=False, output_hidden_states=True).hidden_states
    c = len(world.CONCEPTS)
    out = {}
    for layer in layers:
        h = hs[layer][:, rows.word_pos].float()
        out[layer] = F.normalize(h[:c] - h[c:].mean(0), dim=-1)
    return out


def centred_image_reps(hs, img_pos: torch.Tensor, n: int, gray_row: int, layer: int) -> torch.Tensor:
    h = hs[layer].float()
    return h[:n][:, img_pos].mean(1) - h[gray_row, img_pos].mean(0)


def align_loss(z: torch.Tensor, V: torch.Tensor, factors: list[dict]) -> tuple[torch.Tensor, dict]:
    """Per-category cross-entropy over cos/0.1 plus 1 - cos with the sum of the image's concept vectors."""
    zn = F.normalize(z, dim=-1)
    cos = zn @ V.T
    loss, acc = z.new_zeros(()), {}
    for cat, sl in _CAT_SLICES.items():
        y = torch.tensor([CONCEPT_IDX[f[cat]] - sl.start for f in factors])
        loss = loss + F.cross_entropy(cos[:, sl] / 0.1, y)
        acc[cat] = (cos[:, sl].argmax(-1) == y).float().mean().item()
    own = torch.tensor([[CONCEPT_IDX[f[c]] for c in world.CATEGORIES] for f in factors])
    s = F.normalize(V[own].sum(1), dim=-1)
    loss = loss + (1 - (zn * s).sum(-1)).mean()
    return loss, acc


def text_as_image(model, rows: Rows, factors: list[dict], g: torch.Generator) -> torch.Tensor:
    """(n, 16, d): the four factor words at random image slots, '.' elsewhere (embedded as text)."""
    n, slots = len(factors), len(rows.img_pos)
    ids = torch.full((n, slots), rows.dot)
    for i, f in enumerate(factors):
        pos = torch.randperm(slots, generator=g)[: len(world.CATEGORIES)]
        ids[i, pos] = torch.tensor(rows.encode([" ".join(f[c] for c in world.CATEGORIES)])[0])
    return model.model.language_model.embed_tokens(ids)


def train_vlm(model, rows: Rows, *, steps: int, lr: float, seed: int, data_seed0: int, n_img: int = 32,
              n_tai: int = 0, n_text: int = 16, align_layers: tuple[int, ...] = (), align_weight: float = 1.0,
              shuffle: bool = False, train_lm: bool = True, train_projector: bool = True, name: str = "vlm",
              pool_size: int = 4096,
              progress: Callable[[str], None] = print) -> dict:
    """One training stage (text-only when ``n_img == n_tai == 0``); the vision tower stays frozen."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    params = []
    if train_projector:
        params += list(model.model.multi_modal_projector.parameters())
    if train_lm:
        params += list(model.model.language_model.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    t0, last = time.time(), {}
    for step in range(steps):
        seed_s = seed * 1_000_003 + step
        n_vis = n_img + (1 if align_layers else 0)
        if n_img + n_tai:
            images, factors = world.pool_batch(world.pool(pool_size, data_seed0), n_img + n_tai, g)
        else:
            images, factors = None, []
        words = [factors[int(i)] for i in torch.randperm(len(factors), generator=g)] if shuffle else factors
        caps = rows.encode([world.caption(f, int(torch.randint(len(world.TEMPLATES), (1,), generator=g))) for f in words])
        if align_layers:
            caps = caps[:n_img] + [[]] + caps[n_img:]  # the gray image rides along without a caption
        b = rows.batch(caps, rows.encode(world.text_sentences(n_text, seed_s)))
        b["img_pos"] = rows.img_pos
        slots = []
        if n_img:
            vis = images[:n_img]
            if align_layers:
                vis = torch.cat([vis, torch.full((1, 3, world.IMAGE_SIZE, world.IMAGE_SIZE), 0.5)])
            slots.append(image_features(model, vis))
        if n_tai:
            slots.append(text_as_image(model, rows, words[n_img:], g))
        logits, hs = forward(model, b, torch.cat(slots) if slots else None)
        loss = lm_loss(logits, b["labels"])
        last = {"lm_loss": round(loss.item(), 4)}
        if align_layers:
            V = concept_targets(model, rows, list(align_layers))
            for layer in align_layers:
                z = centred_image_reps(hs, rows.img_pos, n_img, n_img, layer)
                a_loss, acc = align_loss(z, V[layer], words[:n_img])
                loss = loss + align_weight * a_loss / len(align_layers)
                last[f"align_acc_L{layer}"] = {k: round(v, 3) for k, v in acc.items()}
        optimiser_step(loss, opt, sched, params)
        if step % 50 == 0 or step == steps - 1:
            progress(f"  {name} step {step + 1}/{steps} loss {loss.item():.3f} {last} ({time.time() - t0:.0f}s)")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return {"steps": steps, "lr": lr, "seconds": round(time.time() - t0, 1), "final": last, "n_img": n_img,
            "n_tai": n_tai, "n_text": n_text, "align_layers": list(align_layers), "shuffle": shuffle,
            "train_lm": train_lm, "train_projector": train_projector}
