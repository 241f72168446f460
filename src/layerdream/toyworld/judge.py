"""The independent toy judge: a small CNN that reads the four factors back from an image.

Why a separate model of a different kind (a CNN, other seed, other data stream, trained with
augmentation): a judge that shared the VLM's vision tower would share its adversarial blind spots
and would "recognise" whatever the tower was pushed toward. The paper uses GPT-5 for this role.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UserError
from . import world

JUDGE_SEED = 1234
_DATA_SEED0 = 50_000_000  # the judge's data stream never overlaps the VLMs' (which start at 0)
HELDOUT_SEED = 987_654_321


class JudgeNet(nn.Module):
    """5 conv blocks with BatchNorm, mean+max pooling, one linear head per category.

    An auxiliary head predicts the object mask on the 8x8 feature map during training: without it
    the net learns colour, background and season in a hundred steps but shape only slowly.
    """

    def __init__(self, categories: dict[str, list[str]], width: int = 32):
        super().__init__()
        w = width
        blocks, c_in = [], 3
        for c_out, stride in [(w, 2), (2 * w, 2), (4 * w, 2), (4 * w, 1), (4 * w, 2)]:
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                                        nn.ReLU(inplace=True)))
            c_in = c_out
        self.features = nn.Sequential(*blocks[:4])
        self.top = blocks[4]
        self.mask_head = nn.Conv2d(c_in, 1, 1)
        self.heads = nn.ModuleDict({cat: nn.Linear(2 * c_in, len(names)) for cat, names in categories.items()})

    def forward(self, x: torch.Tensor, with_mask: bool = False):
        f = self.features((x - 0.5) / 0.25)
        t = self.top(f)
        h = torch.cat([t.mean(dim=(2, 3)), t.amax(dim=(2, 3))], -1)
        out = {cat: head(h) for cat, head in self.heads.items()}
        return (out, self.mask_head(f)) if with_mask else out


class Judge:
    """``.categories``, ``.predict(images)`` and ``.predict_proba(images)`` over (N,3,64,64) in [0,1]."""

    def __init__(self, net: JudgeNet, categories: dict[str, list[str]], meta: dict | None = None):
        self.net = net.eval()
        self.categories = {cat: list(names) for cat, names in categories.items()}
        self.meta = meta or {}

    def _check(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise UserError("the toy judge needs a tensor of images shaped (N, 3, H, W) with values in [0, 1]")
        images = images.detach().float().cpu()
        if images.shape[-2:] != (world.IMAGE_SIZE, world.IMAGE_SIZE):
            images = F.interpolate(images, size=(world.IMAGE_SIZE,) * 2, mode="bilinear", antialias=True,
                                   align_corners=False)
        return images.clamp(0, 1)

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> list[dict[str, dict[str, float]]]:
        """Per image: ``{category: {concept: probability}}``."""
        images = self._check(images)
        out: list[dict] = [dict() for _ in range(images.shape[0])]
        for start in range(0, images.shape[0], 256):
            logits = self.net(images[start:start + 256])
            for cat, names in self.categories.items():
                probs = logits[cat].softmax(-1)
                for i, row in enumerate(probs.tolist()):
                    out[start + i][cat] = dict(zip(names, row))
        return out

    def predict(self, images: torch.Tensor) -> list[dict[str, str]]:
        """Per image: ``{category: most probable concept}``."""
        return [{cat: max(p, key=p.get) for cat, p in d.items()} for d in self.predict_proba(images)]


def load_judge(path: str | Path | None = None) -> Judge:
    """Load the judge from a folder with ``judge.safetensors`` + ``judge.json`` (default: the shipped one)."""
    from safetensors.torch import load_file

    from . import checkpoint_path

    folder = Path(path) if path is not None else checkpoint_path("judge")
    meta_file, weights = folder / "judge.json", folder / "judge.safetensors"
    if not meta_file.is_file() or not weights.is_file():
        raise UserError(f"no toy judge in {str(folder)!r} (needs judge.json and judge.safetensors); "
                        "run `layerdream toyworld train --out DIR` to make one")
    meta = json.loads(meta_file.read_text())
    net = JudgeNet(meta["categories"], width=meta.get("width", 32))
    net.load_state_dict(load_file(str(weights)))
    return Judge(net, meta["categories"], meta)


def augment(x: torch.Tensor, g: torch.Generator, mask: torch.Tensor | None = None):
    """Shifts (+-6 px, reflect-padded), noise of random strength, and occasional blur.

    Synthesised images are smoother and noisier than the world's; a judge that has seen both reads
    them on their content rather than on their texture statistics.
    """
    n = x.shape[0]
    pad = 6
    xp = F.pad(x, (pad,) * 4, mode="reflect")
    dx, dy = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
    x = xp[..., dy:dy + world.IMAGE_SIZE, dx:dx + world.IMAGE_SIZE]
    if mask is not None:
        mask = F.pad(mask, (pad,) * 4)[..., dy:dy + world.IMAGE_SIZE, dx:dx + world.IMAGE_SIZE]
    blur = torch.rand(n, 1, 1, 1, generator=g) < 0.3
    x = torch.where(blur, F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), x)
    x = x + torch.randn(x.shape, generator=g) * torch.rand(n, 1, 1, 1, generator=g) * 0.12
    return x.clamp(0, 1) if mask is None else (x.clamp(0, 1), mask)


def factor_targets(factors: list[dict]) -> dict[str, torch.Tensor]:
    return {cat: torch.tensor([names.index(f[cat]) for f in factors]) for cat, names in world.CATEGORIES.items()}


def accuracy(judge: Judge, n: int = 1000, seed: int = HELDOUT_SEED) -> dict[str, float]:
    """Held-out accuracy per category on fresh world samples."""
    images, factors, _ = world.sample(n, seed)
    preds = judge.predict(images)
    return {cat: sum(p[cat] == f[cat] for p, f in zip(preds, factors)) / n for cat in world.CATEGORIES}


def train_judge(steps: int = 600, batch: int = 64, seed: int = JUDGE_SEED, pool_size: int = 4096,
                progress: Callable[[str], None] = print) -> tuple[Judge, dict]:
    """Train the judge from scratch; returns the judge and its metrics (held-out accuracy per category)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = JudgeNet(world.CATEGORIES)
    opt = torch.optim.AdamW(net.parameters(), lr=4e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps, pct_start=0.15)
    t0 = time.time()
    net.train()
    for step in range(steps):
        images, factors = world.pool_batch(world.pool(pool_size, _DATA_SEED0 + seed), batch, g)
        x, mask = augment(images, g, world.object_masks(factors))
        logits, mask_logits = net(x, with_mask=True)
        targets = factor_targets(factors)
        loss = sum(F.cross_entropy(logits[c], targets[c]) for c in world.CATEGORIES)
        loss = loss + F.binary_cross_entropy_with_logits(mask_logits, F.avg_pool2d(mask, 8))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            acc = " ".join(f"{c[:3]} {(logits[c].argmax(-1) == targets[c]).float().mean().item():.2f}" for c in targets)
            progress(f"  judge step {step + 1}/{steps} loss {loss.item():.3f} {acc} ({time.time() - t0:.0f}s)")
    judge = Judge(net, world.CATEGORIES)
    acc = accuracy(judge)
    metrics = {"heldout_accuracy": acc, "heldout_n": 1000, "steps": steps, "batch": batch, "seed": seed,
               "seconds": round(time.time() - t0, 1)}
    judge.meta = {"categories": world.CATEGORIES, "width": 32, "architecture": "JudgeNet (5 conv+BN blocks, mean+max pooling, heads; aux mask head in training)",
                  "metrics": metrics}
    return judge, metrics


def save_judge(judge: Judge, folder: str | Path) -> None:
    """Write ``judge.safetensors`` and ``judge.json`` atomically (json last: its presence marks completion)."""
    from safetensors.torch import save

    from ..io import atomic_write_bytes, atomic_write_json, versions

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in judge.net.state_dict().items()}
    atomic_write_bytes(folder / "judge.safetensors", save(state))
    atomic_write_json(folder / "judge.json", {**judge.meta, "versions": versions()})
