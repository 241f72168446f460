"""Judge-free measures of text-image alignment per layer, each with its N and a permutation null.

From image representations r(I) (gray-centred, mean-pooled image tokens, unit) and concept vectors
v̂(c) (unit), at one layer:

* **top-1 retrieval**: for each image, the concept vector nearest to r(I) among all N; a hit when it
  is one of the image's concepts. Chance = mean over images of (#labels / N) (1/N for one label; 4/20
  in the toy world, where every image shows one concept per category).
* **linear CKA** (Kornblith et al. 2019) between the image side (per concept: the mean r(I) of the
  images that show it) and the text side (v̂(c)), over the concepts that have images.
* **mutual-kNN** (Huh et al. 2024): the mean overlap of each concept's k nearest concepts in the
  image space and in the text space.

Each null permutes the pairing (image labels for retrieval; which text row goes with which image row
for CKA and mutual-kNN) ``n_perm`` times with a fixed seed; p = (1 + #null ≥ observed) / (1 + n_perm).
With N = 20 concepts the nulls are far from 0 (mutual-kNN inflates at small N, "Back into Plato's
Cave", arXiv 2604.18572): read a value against its null, never alone.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F


def _p_value(observed: float, null: torch.Tensor) -> float:
    return float((1 + (null >= observed - 1e-12).sum()) / (1 + null.numel()))


def _summary(name: str, value: float, null: torch.Tensor, **extra: Any) -> dict[str, Any]:
    return {"measure": name, "value": value, "null_mean": float(null.mean()),
            "null_p95": float(null.quantile(0.95)), "p": _p_value(value, null), "n_perm": int(null.numel()), **extra}


def retrieval_top1(reps: torch.Tensor, labels: Sequence[set[str]], vectors: torch.Tensor, names: Sequence[str],
                   n_perm: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Top-1 retrieval of a true concept among all ``len(names)`` concept vectors."""
    top = (F.normalize(reps.float(), dim=-1) @ F.normalize(vectors.float(), dim=-1).T).argmax(1).tolist()
    picked = [names[t] for t in top]

    def rate(labs: Sequence[set[str]]) -> float:
        return sum(p in lab for p, lab in zip(picked, labs)) / len(picked)

    g = torch.Generator().manual_seed(seed)
    null = torch.tensor([rate([labels[i] for i in torch.randperm(len(labels), generator=g).tolist()]) for _ in range(n_perm)])
    known = set(names)
    chance = sum(len(lab & known) for lab in labels) / (len(labels) * len(names))
    return _summary("retrieval_top1", rate(labels), null, n=len(labels), N=len(names), chance=chance)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two paired sets of rows (n, d1), (n, d2): 1 for the same geometry up to rotation and scale."""
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    num = (y.T @ x).norm() ** 2
    den = (x.T @ x).norm() * (y.T @ y).norm()
    return float(num / den) if den > 0 else 0.0


def mutual_knn(x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    """Mean fraction of shared k nearest neighbours (cosine, self excluded) of each row in x and in y."""
    def knn(z: torch.Tensor) -> torch.Tensor:
        z = F.normalize(z.double(), dim=-1)
        s = z @ z.T
        s.fill_diagonal_(float("-inf"))
        return s.topk(k, dim=1).indices

    a, b = knn(x), knn(y)
    n = x.shape[0]
    ma = torch.zeros(n, n, dtype=torch.bool).scatter_(1, a, True)
    mb = torch.zeros(n, n, dtype=torch.bool).scatter_(1, b, True)
    return float((ma & mb).sum(1).double().mean() / k)


def concept_means(reps: torch.Tensor, labels: Sequence[set[str]], names: Sequence[str]) -> tuple[torch.Tensor, list[int]]:
    """(C', d) mean representation of the images of each concept that has images, and those concepts' indices."""
    rows, kept = [], []
    for j, c in enumerate(names):
        mask = torch.tensor([c in lab for lab in labels])
        if mask.any():
            rows.append(reps[mask].float().mean(0))
            kept.append(j)
    return (torch.stack(rows) if rows else torch.zeros(0, reps.shape[1])), kept


def paired_measures(reps: torch.Tensor, labels: Sequence[set[str]], vectors: torch.Tensor, names: Sequence[str],
                    k: int = 3, n_perm: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Linear CKA and mutual-kNN between the concepts' image means and their concept vectors (+ nulls)."""
    x, kept = concept_means(reps, labels, names)
    n = len(kept)
    if n < 3:
        return []
    y = vectors[kept].float()
    k = max(1, min(k, n - 1))
    g = torch.Generator().manual_seed(seed)
    perms = [torch.randperm(n, generator=g) for _ in range(n_perm)]
    cka_null = torch.tensor([linear_cka(x, y[p]) for p in perms])
    knn_null = torch.tensor([mutual_knn(x, y[p], k) for p in perms])
    return [_summary("linear_cka", linear_cka(x, y), cka_null, n=n, N=n),
            _summary("mutual_knn", mutual_knn(x, y, k), knn_null, n=n, N=n, k=k)]


def judge_free(reps: torch.Tensor, labels: Sequence[set[str]], vectors: torch.Tensor, names: Sequence[str],
               layer: int, n_perm: int = 1000, seed: int = 0, k: int = 3) -> list[dict[str, Any]]:
    """All three measures at one layer, one row each (``layer`` in every row)."""
    known = set(names)
    # images of one concept only: shuffling identical labels changes nothing, so the null equalled the value
    # (1.000, null 1.000, p=1) and said nothing; as paired_measures needs 3 concepts, retrieval needs 2
    distinct = {frozenset(lab & known) for lab in labels}
    rows = [retrieval_top1(reps, labels, vectors, names, n_perm, seed)] if len(distinct) >= 2 else []
    rows += paired_measures(reps, labels, vectors, names, k, n_perm, seed)
    return [{"layer": layer, **r} for r in rows]
