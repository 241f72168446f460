"""Training the toy VLMs' SigLIP vision tower: supervised pre-training, then a robust fine-tune.

Why supervised heads: a from-scratch tower trained only through a captioning loss learns too little
in the minutes we have. Heads read the four factors from the tower's output, pooled exactly as the
Gemma 3 projector pools it (8x8 patches -> 4x4 tokens), so the features the LM later receives carry
the factors per token: the background on tokens the object does not cover, colour and shape on
tokens it does, the season everywhere.

Why robust: the study found that synthesis through a non-robust tower produces adversarial textures
that the tower reads as a concept and nobody else does. One-step L2 PGD (eps 1.0 on [0,1] pixels)
plus Gaussian noise and shifts made synthesised images look like their concepts.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import world

BG_MAX_COVER, OBJ_MIN_COVER = 0.15, 0.4


def tower_patches(tower: nn.Module, images01: torch.Tensor) -> torch.Tensor:
    """(N, P, d): the tower's output per patch (8x8 patches of a 64 px image: P = 64)."""
    return tower(pixel_values=(images01 - 0.5) / 0.5).last_hidden_state


def pool_tokens(h: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """(N, grid*grid, d): patches average-pooled to the projector's token grid, as Gemma 3 pools them."""
    n, p, d = h.shape
    side = int(round(p ** 0.5))
    h = h.transpose(1, 2).reshape(n, d, side, side)
    return F.avg_pool2d(h, side // grid).flatten(2).transpose(1, 2)


def tower_tokens(tower: nn.Module, images01: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """(N, grid*grid, d): tower output average-pooled to the projector's token grid."""
    return pool_tokens(tower_patches(tower, images01), grid)


class GeometryHead(nn.Module):
    """Dense geometry targets per patch: the object's mask inside the patch (8x8 pixels) and the
    patch's position relative to the object's centre, in object radii, plus its coverage.

    Why: with one label per image a small ViT learns shape very slowly (held-out shape 0.35 after
    600 x 64 images, chance 0.25), and even the object's boundary patches alone do not tell the shapes
    apart. Shape is a property of where the object's pixels lie relative to its centre; asking every
    patch for exactly that gives hundreds of targets per image and made shape learnable (see
    docs/toyworld.md for the measured effect).
    """

    def __init__(self, d: int, patch: int = 8):
        super().__init__()
        self.patch = patch
        self.mask = nn.Linear(d, patch * patch)
        self.where = nn.Sequential(nn.Linear(d, 128), nn.GELU(), nn.Linear(128, 3))

    def loss(self, h: torch.Tensor, masks: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        """h: (N, P, d) patch features; masks: (N, 1, H, W) object coverage; radius: (N,) in pixels."""
        n, _, size, _ = masks.shape
        p = self.patch
        mask_loss = F.binary_cross_entropy_with_logits(self.mask(h), F.unfold(masks, p, stride=p).transpose(1, 2))
        pos = torch.arange(size, dtype=masks.dtype) + 0.5
        total = masks.sum((1, 2, 3)).clamp(min=1.0)  # the centre is the (shifted) mask's centroid
        cy = (masks * pos.view(1, 1, size, 1)).sum((1, 2, 3)) / total
        cx = (masks * pos.view(1, 1, 1, size)).sum((1, 2, 3)) / total
        centres = torch.arange(size // p, dtype=masks.dtype) * p + p / 2
        py = centres.view(-1, 1).expand(size // p, size // p).reshape(1, -1)
        px = centres.view(1, -1).expand(size // p, size // p).reshape(1, -1)
        u = ((px - cx.view(n, 1)) / radius.view(n, 1)).clamp(-3, 3)
        v = ((py - cy.view(n, 1)) / radius.view(n, 1)).clamp(-3, 3)
        cover = F.avg_pool2d(masks, p).flatten(1)
        return mask_loss + F.mse_loss(self.where(h), torch.stack([u, v, cover], -1))


class VisionHeads(nn.Module):
    """Global heads (mean over tokens) and per-token heads for the four categories, plus the dense
    per-patch geometry head (its loss needs the unpooled patches, so ``train_tower`` adds it)."""

    def __init__(self, d: int):
        super().__init__()
        self.glob = nn.ModuleDict({c: nn.Linear(d, len(n)) for c, n in world.CATEGORIES.items()})
        self.tok = nn.ModuleDict({c: nn.Linear(d, len(n)) for c, n in world.CATEGORIES.items()})
        self.geometry = GeometryHead(d)

    def loss(self, tokens: torch.Tensor, factors: list[dict], cover: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """cover: (N, T) object coverage of each token."""
        n, t, _ = tokens.shape
        pooled = tokens.mean(1)
        total, accs = tokens.new_zeros(()), {}
        for cat, names in world.CATEGORIES.items():
            y = torch.tensor([names.index(f[cat]) for f in factors])
            logits = self.glob[cat](pooled)
            total = total + F.cross_entropy(logits, y)
            accs[cat] = (logits.argmax(-1) == y).float().mean().item()
            if cat == "background":
                keep = cover < BG_MAX_COVER
            elif cat in ("colour", "shape"):
                keep = cover >= OBJ_MIN_COVER
            else:
                keep = torch.ones_like(cover, dtype=torch.bool)
            if keep.any():
                tok_logits = self.tok[cat](tokens[keep])
                total = total + 0.5 * F.cross_entropy(tok_logits, y.view(n, 1).expand(n, t)[keep])
        return total, accs


def optimiser_step(loss: torch.Tensor, opt, sched, params, clip: float = 1.0) -> None:
    """One training step as every toy stage takes it: backward, global-norm clip, step, schedule."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    sched.step()


def _shift(x: torch.Tensor, m: torch.Tensor, g: torch.Generator, pad: int = 4):
    dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
    s = world.IMAGE_SIZE
    x = F.pad(x, (pad,) * 4, mode="replicate")[..., dy:dy + s, dx:dx + s]
    m = F.pad(m, (pad,) * 4)[..., dy:dy + s, dx:dx + s]
    return x, m


def _pgd_l2(tower, heads, x, factors, cover, eps: float, g: torch.Generator) -> torch.Tensor:
    """One step of L2 PGD from a random start inside the eps ball (pixels in [0, 1])."""
    n = x.shape[0]
    delta = torch.randn(x.shape, generator=g)
    delta = delta / delta.flatten(1).norm(dim=1).view(n, 1, 1, 1) * eps * torch.rand(n, 1, 1, 1, generator=g)
    delta.requires_grad_(True)
    loss, _ = heads.loss(tower_tokens(tower, (x + delta).clamp(0, 1)), factors, cover)
    (grad,) = torch.autograd.grad(loss, delta)
    step = grad / (grad.flatten(1).norm(dim=1).view(n, 1, 1, 1) + 1e-12) * eps
    delta = (delta.detach() + step)
    norm = delta.flatten(1).norm(dim=1).view(n, 1, 1, 1)
    delta = delta * torch.clamp(eps / (norm + 1e-12), max=1.0)
    return (x + delta).clamp(0, 1).detach()


def _save_progress(path: Path, step: int, tower, heads, opt, sched, g: torch.Generator) -> None:
    import io

    from ..io import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"step": step, "tower": tower.state_dict(), "heads": heads.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "generator": g.get_state()}, buf)
    atomic_write_bytes(path, buf.getvalue())


def train_tower(tower: nn.Module, *, steps: int, batch: int, lr: float, seed: int, robust: bool,
                heads: VisionHeads | None = None, eps: float = 1.0, data_seed0: int = 0, pool_size: int = 4096,
                progress: Callable[[str], None] = print, checkpoint: Path | None = None,
                checkpoint_every: int = 250) -> tuple[VisionHeads, dict]:
    """Train ``tower`` in place (plus heads); returns the heads and training metrics.

    With ``checkpoint`` the full training state (weights, optimiser, schedule, random generator) is
    saved there every ``checkpoint_every`` steps, and a rerun continues from it: the tower stage is
    the longest (about 10 min on 2 cores), and a resumed run ends bit-identical to an uninterrupted one.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    d = tower.config.hidden_size
    heads = heads or VisionHeads(d)
    params = [*tower.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1 if not robust else 0.05)
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, weights_only=False)
        tower.load_state_dict(state["tower"])
        heads.load_state_dict(state["heads"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        g.set_state(state["generator"])
        start = state["step"]
        progress(f"  resuming at step {start + 1}/{steps} from {checkpoint}")
    tower.train()
    t0, accs = time.time(), {}
    for step in range(start, steps):
        images, factors = world.pool_batch(world.pool(pool_size, data_seed0), batch, g)
        masks = world.object_masks(factors)
        images, masks = _shift(images, masks, g)
        cover = F.avg_pool2d(masks, world.IMAGE_SIZE // 4).flatten(1)
        if robust:
            sigma = torch.rand(batch, 1, 1, 1, generator=g) * 0.25
            noisy = (images + sigma * torch.randn(images.shape, generator=g)).clamp(0, 1)
            half = batch // 2  # half adversarial, half noisy: robustness without giving up clean accuracy
            adv = _pgd_l2(tower, heads, images[:half], factors[:half], cover[:half], eps, g)
            images = torch.cat([adv, noisy[half:]])
        else:
            images = (images + 0.03 * torch.randn(images.shape, generator=g)).clamp(0, 1)
        h = tower_patches(tower, images)
        loss, accs = heads.loss(pool_tokens(h), factors, cover)
        radius = torch.tensor([float(f["radius"]) for f in factors])
        loss = loss + heads.geometry.loss(h, masks, radius)
        optimiser_step(loss, opt, sched, params)
        if step % 50 == 0 or step == steps - 1:
            acc = " ".join(f"{k[:3]} {v:.2f}" for k, v in accs.items())
            progress(f"  {'robust' if robust else 'vision'} step {step + 1}/{steps} loss {loss.item():.3f} {acc} "
                     f"({time.time() - t0:.0f}s)")
        if checkpoint is not None and (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            _save_progress(Path(checkpoint), step + 1, tower, heads, opt, sched, g)
    tower.eval()
    return heads, {"steps": steps, "batch": batch, "lr": lr, "robust": robust, "eps": eps if robust else None,
                   "seconds": round(time.time() - t0, 1), "heldout_accuracy": heldout_accuracy(tower, heads)}


@torch.no_grad()
def heldout_accuracy(tower: nn.Module, heads: VisionHeads, n: int = 512, seed: int = 777_777) -> dict:
    images, factors, _ = world.sample(n, seed)
    pooled = tower_tokens(tower, images).mean(1)
    out = {}
    for cat, names in world.CATEGORIES.items():
        y = torch.tensor([names.index(f[cat]) for f in factors])
        out[cat] = round((heads.glob[cat](pooled).argmax(-1) == y).float().mean().item(), 4)
    return out
