"""The cosine alignment analysis: do real images of a concept point where its text vector points?

For each layer ℓ, aggregation and concept c: cos(r_ℓ(I), v̂_ℓ(c)) averaged over (i) images that show
c, (ii) images that do not, and (iii) controls with no content: uniform noise, and gray plus faint
noise. Aligned representations give matching > mismatching > controls; the gap matching −
mismatching per layer (the margin) is the summary.

Two aggregations of the gray-centred image tokens, side by side:

* ``mean``: plain mean pooling, nothing tuned towards the concept being tested;
* ``attention``: the paper's attention-weighted aggregate (method.md b.2, weighting "paper": softmax
  of (cos(z_i, v̂) + log G_σ)/τ with σ = the whole token grid, τ = the paper's τ for that layer unless
  given), the representation the synthesis itself optimises. It looks at the tokens most like the
  concept, so it is higher for every image; only its margin is comparable with the mean's.

Real photos are resized once, straight to the model's own input size, the way the model's own
processor resizes them (``FamilyAdapter.load_photo``: Gemma 3's processor uses BILINEAR, SigLIP/CLIP/
Qwen's BICUBIC, LLaVA's crops, Idefics3's LANCZOS; every photo here went through BICUBIC before, and
through 224 px and back up to 896 before that). Tensors at another size (the toy world, the
controls) go through the adapter's own differentiable resize, the one synthesis uses. The margin
needs images that do not show the concept; a concept without any is refused before the model loads,
never reported as NaN.

Beside the cosines, from the same forwards: the judge-free measures of ``measures.py`` (top-1 retrieval
of the true concept among all N concept vectors, linear CKA and mutual-kNN between the image side and
the text side, each with N and a permutation null), written to ``measures.csv``.

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
AGGREGATIONS = ("mean", "attention")
MEASURES = ("matching", "mismatching", "noise", "gray_noise")
REPS = "_reps"  # _cosines' key for the mean-pooled image representations themselves


@dataclass
class LabelledImages:
    """Images (N,3,H,W) in [0,1] and, for each, the set of concepts it shows."""

    images: torch.Tensor
    labels: list[set[str]]
    source: str


def scan_image_dir(folder: str | Path, concepts: Sequence[str]) -> list[tuple[Path, str]]:
    """(file, concept) for DIR/<concept>/*.png (folder named as the concept or its slug: "spring (season)" ->
    spring_season); every file is opened and checked here, before any model is loaded."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--images {str(folder)!r} is not a folder; give a folder with one subfolder per concept")
    by_slug = {slugify(c): c for c in concepts}
    by_name = {c: c for c in concepts}
    found, unknown = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        concept = by_name.get(sub.name) or by_slug.get(slugify(sub.name))
        if concept is None:
            unknown.append(sub.name)
            continue
        for f in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(f) as img:
                    img.verify()
            except (OSError, SyntaxError, ValueError) as err:
                raise UserError(f"--images: cannot read {str(f)!r} ({type(err).__name__}); remove or replace it") from None
            found.append((f, concept))
    if not found:
        hint = f" (subfolders {unknown[:5]} match no concept)" if unknown else ""
        raise UserError(f"--images {str(folder)!r}: no images found in subfolders named after concepts{hint}")
    return found


def images_from_dir(folder: str | Path, concepts: Sequence[str], model: Any) -> LabelledImages:
    """The images of :func:`scan_image_dir`, each resized once, straight to the model's input, as that
    model's processor resizes it (``model``: the :class:`~layerdream.models.VLM` the images are for).

    An int instead of a model (the size only) resizes with PIL's BICUBIC, which is not any family's
    exact preprocessing (kept for callers that have no model at hand).
    """
    from PIL import Image

    load = getattr(getattr(model, "adapter", None), "load_photo", None)
    size = int(model.image_size) if load else int(model)
    tensors, labels = [], []
    for f, concept in scan_image_dir(folder, concepts):
        with Image.open(f) as img:
            tensors.append(load(img) if load else _bicubic(img, size))
        labels.append({concept})
    how = f"resized as {model.name}'s processor resizes" if load else "BICUBIC"
    return LabelledImages(torch.stack(tensors), labels, f"{folder} at {size}px ({how})")


def _bicubic(img, size: int) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    img = img.convert("RGB").resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255


def images_from_toyworld(n: int = 64, seed: int = 0) -> LabelledImages:
    """The toy world's own images; every image shows one concept of each category."""
    from ..toyworld.world import CATEGORIES, sample

    images, factors, _ = sample(n, seed)
    return LabelledImages(images, [{f[cat] for cat in CATEGORIES} for f in factors], f"toyworld.sample({n}, seed={seed})")


def check_contrast(concepts: Sequence[str], labels: Sequence[set[str]]) -> None:
    """Every concept with images must also have images that do not show it, or its margin is undefined."""
    shown = [c for c in concepts if any(c in lab for lab in labels)]
    lonely = [c for c in shown if all(c in lab for lab in labels)]
    if lonely:
        raise UserError(f"concept(s) {lonely[:5]} have no mismatching image (every image shows them), so the margin "
                        "matching - mismatching is undefined; give images of at least two concepts")


def controls(n: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 3, size, size, generator=g)
    gray = (0.5 + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    return {"noise": noise, "gray_noise": gray}


def _cosines(vlm: Any, images: torch.Tensor, layer: int, v: torch.Tensor, aggregations: Sequence[str], tau: float,
             prompt_format: str, chunk: int = 16) -> dict[str, torch.Tensor]:
    """aggregation -> (N, B) cos(r(I_n), v̂_b); one forward per image, every concept's attention from it."""
    from ..synthesis.objective import aggregate, centre

    gray = vlm.gray_reference(layer, prompt_format)
    out: dict[str, list[torch.Tensor]] = {a: [] for a in (*aggregations, REPS)}
    v = v.float()
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].float()  # any size: the adapter resizes as it does for synthesis
        with torch.no_grad():
            z = centre(vlm.image_tokens(x.to(vlm.device), layer, prompt_format), gray).float().cpu()
        rep = F.normalize(z.mean(1), dim=-1)
        out[REPS].append(rep)  # the judge-free measures use the same forwards
        if "mean" in out:
            out["mean"].append(rep @ v.T)
        if "attention" in out:
            cols = []
            for j in range(v.shape[0]):
                rep = aggregate(z, v[j].expand(z.shape[0], -1), vlm.grid, sigma=float(max(vlm.grid)), tau=tau, weighting="paper")
                cols.append(F.cosine_similarity(rep, v[j][None, :], dim=-1, eps=1e-8))
            out["attention"].append(torch.stack(cols, dim=1))
    return {a: torch.cat(parts) for a, parts in out.items()}


def alignment(vlm: Any, concepts: Sequence[str], categories: dict[str, str], data: LabelledImages,
              layers: Sequence[int], n_controls: int = 16, seed: int = 0, *,
              aggregations: Sequence[str] = ("mean",), tau: float | None = None, prompt_format: str = "chat",
              baseline: Any = None) -> list[dict[str, Any]]:
    """One row per (aggregation, layer, concept) plus an ``All`` row per (aggregation, layer) (mean over concepts).

    ``tau``: the attention temperature (default: the paper's τ for the layer, method.md Appendix E);
    ``prompt_format``/``baseline``: as in ``synthesize``, for the concept vectors and the image prompt.
    """
    return alignment_with_measures(vlm, concepts, categories, data, layers, n_controls, seed, aggregations=aggregations,
                                   tau=tau, prompt_format=prompt_format, baseline=baseline, n_perm=0)[0]


def alignment_with_measures(vlm: Any, concepts: Sequence[str], categories: dict[str, str], data: LabelledImages,
                            layers: Sequence[int], n_controls: int = 16, seed: int = 0, *,
                            aggregations: Sequence[str] = ("mean",), tau: float | None = None,
                            prompt_format: str = "chat", baseline: Any = None,
                            n_perm: int = 1000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(:func:`alignment`'s rows, the judge-free measures per layer from the same forwards:
    ``diagnostics.measures.judge_free``; none when ``n_perm`` is 0)."""
    import layerdream as ld

    from ..synthesis.presets import paper_schedule
    from .measures import judge_free

    bad = [a for a in aggregations if a not in AGGREGATIONS]
    if bad or not aggregations:
        raise UserError(f"unknown aggregation {bad or aggregations}; choose from {', '.join(AGGREGATIONS)}")
    check_contrast(concepts, data.labels)
    prompt_format = vlm.resolve_prompt_format(prompt_format)
    ctrl = controls(n_controls, vlm.image_size, seed)
    rows: list[dict[str, Any]] = []
    measure_rows: list[dict[str, Any]] = []
    for layer in layers:
        vlm.check_layer(layer)
        v = ld.concept_vectors(vlm, list(concepts), layer, prompt_format=prompt_format, baseline=baseline).float()
        t = tau if tau is not None else paper_schedule(layer, vlm.num_layers)[1]
        cos = _cosines(vlm, data.images, layer, v, aggregations, t, prompt_format)
        ctrl_cos = {name: _cosines(vlm, imgs, layer, v, aggregations, t, prompt_format) for name, imgs in ctrl.items()}
        if n_perm > 0:
            measure_rows += judge_free(cos[REPS], data.labels, v, list(concepts), layer, n_perm=n_perm, seed=seed)
        for agg in aggregations:
            layer_rows = []
            for j, c in enumerate(concepts):
                match = torch.tensor([c in lab for lab in data.labels])
                if not match.any():
                    continue
                layer_rows.append({
                    "aggregation": agg, "layer": layer, "concept": c, "category": categories.get(c, ""),
                    "matching": float(cos[agg][match, j].mean()), "mismatching": float(cos[agg][~match, j].mean()),
                    "noise": float(ctrl_cos["noise"][agg][:, j].mean()),
                    "gray_noise": float(ctrl_cos["gray_noise"][agg][:, j].mean()),
                    "n_matching": int(match.sum()), "n_mismatching": int((~match).sum()),
                    "tau": t if agg == "attention" else None,
                })
            if layer_rows:
                mean = lambda k: sum(r[k] for r in layer_rows) / len(layer_rows)  # noqa: E731
                layer_rows.append({"aggregation": agg, "layer": layer, "concept": ALL, "category": ALL,
                                   **{k: mean(k) for k in MEASURES},
                                   "n_matching": sum(r["n_matching"] for r in layer_rows),
                                   "n_mismatching": sum(r["n_mismatching"] for r in layer_rows),
                                   "tau": t if agg == "attention" else None})
            rows += layer_rows
    for r in rows:
        r["margin"] = r["matching"] - r["mismatching"]
    return rows, measure_rows


def plot(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Cosine vs layer, mean over concepts with a ±1 s.d. band: matching, mismatching, noise, gray+noise;
    one panel per aggregation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = [r for r in rows if r["concept"] != ALL]
    aggs = list(dict.fromkeys(r.get("aggregation", "mean") for r in per))
    fig, axes = plt.subplots(1, len(aggs), figsize=(6.4 * len(aggs), 4.0), squeeze=False)
    styles = {"matching": ("tab:red", "-"), "mismatching": ("tab:blue", "-"), "noise": ("0.4", "--"), "gray_noise": ("0.6", ":")}
    for ax, agg in zip(axes[0], aggs):
        sel = [r for r in per if r.get("aggregation", "mean") == agg]
        layers = sorted({r["layer"] for r in sel})
        for key, (color, ls) in styles.items():
            vals = [torch.tensor([r[key] for r in sel if r["layer"] == l]) for l in layers]
            mean = [float(v.mean()) for v in vals]
            sd = [float(v.std()) if len(v) > 1 else 0.0 for v in vals]
            ax.plot(layers, mean, color=color, linestyle=ls, marker="o", markersize=4, label=key.replace("_", " + "))
            ax.fill_between(layers, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)], color=color, alpha=0.12, linewidth=0)
        ax.axhline(0, color="k", linewidth=0.6)
        ax.set_xticks(layers)
        ax.set_xlabel("layer")
        ax.set_ylabel("cos(image representation, concept vector)")
        ax.set_title(f"{agg} aggregation", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "Text-image alignment by layer (mean over concepts, ±1 s.d.)", fontsize=10)
    fig.tight_layout()
    from ..io import save_figure

    return save_figure(fig, path)
