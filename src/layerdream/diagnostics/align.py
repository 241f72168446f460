"""The cosine alignment analysis: do real images of a concept point where its text vector points?

For each layer ℓ and concept c: cos(r_ℓ(I), v̂_ℓ(c)) averaged over (i) images that show c,
(ii) images that do not, and (iii) controls with no content: uniform noise, and gray plus faint
noise. r_ℓ is ``ld.image_representation`` with the gray-centred *mean* aggregate (no attention
weighting, so nothing is tuned towards the concept being tested). Aligned representations give
matching > mismatching > controls; the gap matching − mismatching per layer is the summary.

Pure gray is not a usable control: gray-centring maps it to the zero vector by construction, so
its cosine is undefined. "gray_noise" (0.5 + N(0, 0.05²)) is the nearest meaningful thing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..io import slugify

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
ALL = "All"


@dataclass
class LabelledImages:
    """Images (N,3,H,W) in [0,1] and, for each, the set of concepts it shows."""

    images: torch.Tensor
    labels: list[set[str]]
    source: str


def images_from_dir(folder: str | Path, concepts: Sequence[str], size: int = 224) -> LabelledImages:
    """DIR/<concept>/*.png (folder named as the concept or its slug: "spring (season)" -> spring_season)."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--images {str(folder)!r} is not a folder; give a folder with one subfolder per concept")
    by_slug = {slugify(c): c for c in concepts}
    by_name = {c: c for c in concepts}
    tensors, labels, unknown = [], [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        concept = by_name.get(sub.name) or by_slug.get(slugify(sub.name))
        if concept is None:
            unknown.append(sub.name)
            continue
        for f in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                img = Image.open(f).convert("RGB").resize((size, size), Image.BICUBIC)
            except OSError as err:
                raise UserError(f"--images: cannot read {str(f)!r} ({err})") from None
            tensors.append(torch.from_numpy(__import__("numpy").asarray(img).copy()).permute(2, 0, 1).float() / 255)
            labels.append({concept})
    if not tensors:
        hint = f" (subfolders {unknown[:5]} match no concept)" if unknown else ""
        raise UserError(f"--images {str(folder)!r}: no images found in subfolders named after concepts{hint}")
    return LabelledImages(torch.stack(tensors), labels, str(folder))


def images_from_toyworld(n: int = 64, seed: int = 0) -> LabelledImages:
    """The toy world's own images; every image shows one concept of each category."""
    from ..toyworld.world import CATEGORIES, sample

    images, factors, _ = sample(n, seed)
    return LabelledImages(images, [{f[cat] for cat in CATEGORIES} for f in factors], f"toyworld.sample({n}, seed={seed})")


def controls(n: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 3, size, size, generator=g)
    gray = (0.5 + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    return {"noise": noise, "gray_noise": gray}


def _representations(vlm: Any, images: torch.Tensor, layer: int, chunk: int = 16) -> torch.Tensor:
    import layerdream as ld

    size = vlm.image_size
    out = []
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].float()
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        out.append(ld.image_representation(vlm, x.to(vlm.device), layer, aggregation="mean"))
    return F.normalize(torch.cat(out).float(), dim=-1)


def alignment(vlm: Any, concepts: Sequence[str], categories: dict[str, str], data: LabelledImages,
              layers: Sequence[int], n_controls: int = 16, seed: int = 0) -> list[dict[str, Any]]:
    """One row per (layer, concept) plus an ``All`` row per layer (mean over concepts)."""
    import layerdream as ld

    ctrl = controls(n_controls, vlm.image_size, seed)
    rows: list[dict[str, Any]] = []
    for layer in layers:
        vlm.check_layer(layer)
        v = ld.concept_vectors(vlm, list(concepts), layer).float()  # (B, d) unit
        cos = _representations(vlm, data.images, layer) @ v.T  # (N, B)
        ctrl_cos = {name: (_representations(vlm, imgs, layer) @ v.T).mean(0) for name, imgs in ctrl.items()}
        layer_rows = []
        for j, c in enumerate(concepts):
            match = torch.tensor([c in lab for lab in data.labels])
            if not match.any():
                continue
            mis = cos[~match, j]
            layer_rows.append({
                "layer": layer, "concept": c, "category": categories.get(c, ""),
                "matching": float(cos[match, j].mean()), "mismatching": float(mis.mean()) if len(mis) else float("nan"),
                "noise": float(ctrl_cos["noise"][j]), "gray_noise": float(ctrl_cos["gray_noise"][j]),
                "n_matching": int(match.sum()), "n_mismatching": int((~match).sum()),
            })
        if layer_rows:
            mean = lambda k: sum(r[k] for r in layer_rows) / len(layer_rows)  # noqa: E731
            layer_rows.append({"layer": layer, "concept": ALL, "category": ALL, **{k: mean(k) for k in ("matching", "mismatching", "noise", "gray_noise")},
                               "n_matching": sum(r["n_matching"] for r in layer_rows), "n_mismatching": sum(r["n_mismatching"] for r in layer_rows)})
        rows += layer_rows
    for r in rows:
        r["margin"] = r["matching"] - r["mismatching"]
    return rows


def plot(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Cosine vs layer, mean over concepts with a ±1 s.d. band: matching, mismatching, noise, gray+noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = [r for r in rows if r["concept"] != ALL]
    layers = sorted({r["layer"] for r in per})
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    styles = {"matching": ("tab:red", "-"), "mismatching": ("tab:blue", "-"), "noise": ("0.4", "--"), "gray_noise": ("0.6", ":")}
    for key, (color, ls) in styles.items():
        vals = [torch.tensor([r[key] for r in per if r["layer"] == l]) for l in layers]
        mean = [float(v.mean()) for v in vals]
        sd = [float(v.std()) if len(v) > 1 else 0.0 for v in vals]
        ax.plot(layers, mean, color=color, linestyle=ls, marker="o", markersize=4, label=key.replace("_", " + "))
        ax.fill_between(layers, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)], color=color, alpha=0.12, linewidth=0)
    ax.axhline(0, color="k", linewidth=0.6)
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("cos(image representation, concept vector)")
    ax.set_title(title or "Text-image alignment by layer (mean over concepts, ±1 s.d.)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
