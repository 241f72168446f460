"""The image representation and the loss (method.md b.2-b.3). Plain tensors, no transformers.

r_ℓ(I) = Σ_i w_i z_i with z_i = P_ℓ(I)[i] − β_ℓ (gray-image centring) and
w = softmax((s + log G_σ)/τ)          ("paper", [R1], the default), or
w = softmax(s/τ + log G_σ) ∝ G·exp(s/τ) ("prior", the other reading of the paper's wording), or
w = softmax(s/τ)                      ("noprior", the spatial prior off: the ablation of the prior), or
w = 1/P                               ("mean", the paper's mean-pooling ablation),
where s_i = cos(z_i, v̂) and G_σ is an isotropic Gaussian over the token grid centred on the grid's
centre, σ in token-grid units. Gradients flow through both w and z (the paper does not detach).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WEIGHTINGS = ("paper", "prior", "noprior", "mean")


def log_spatial_prior(grid: tuple[int, int], sigma: float, device=None) -> torch.Tensor:
    """log G_σ for each token of a row-major grid: (P,)."""
    rows, cols = grid
    y = torch.arange(rows, device=device, dtype=torch.float32) - (rows - 1) / 2
    x = torch.arange(cols, device=device, dtype=torch.float32) - (cols - 1) / 2
    dist2 = (y[:, None] ** 2 + x[None, :] ** 2).flatten()
    return -dist2 / (2 * sigma**2)


def centre(tokens: torch.Tensor, gray: torch.Tensor, per_position: bool = False) -> torch.Tensor:
    """z = P(I) − β: one mean gray vector (default, [R1]) or the gray image's own token per position."""
    return tokens - (gray if per_position else gray.mean(0))


def attention_weights(z: torch.Tensor, targets: torch.Tensor, grid: tuple[int, int], *, sigma: float, tau: float,
                      weighting: str = "paper") -> torch.Tensor:
    """(N, P) weights w over the image tokens (rows sum to 1); "mean": uniform."""
    if weighting == "mean":
        return torch.full(z.shape[:2], 1.0 / z.shape[1], device=z.device, dtype=z.dtype)
    scores = F.cosine_similarity(z, targets[:, None, :], dim=-1, eps=1e-8)  # (N, P)
    if weighting == "noprior":
        return torch.softmax(scores / tau, dim=-1)
    log_prior = log_spatial_prior(grid, sigma, z.device)
    if weighting == "paper":
        logits = (scores + log_prior) / tau
    elif weighting == "prior":
        logits = scores / tau + log_prior
    else:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return torch.softmax(logits, dim=-1)


def effective_tokens(weights: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of each row of (N, P) weights: how many tokens the representation rests on (1 for a
    hard max over patches, P for mean pooling). At tau = 0.005 (the paper's layers 1, 5, 30) the paper
    weighting is nearly a hard max: 1.0-1.3 of 256 tokens (issue 19 item 4)."""
    w = weights.double().clamp_min(1e-300)
    return torch.exp(-(w * w.log()).sum(-1))


def aggregate(z: torch.Tensor, targets: torch.Tensor, grid: tuple[int, int], *, sigma: float, tau: float,
              weighting: str = "paper") -> torch.Tensor:
    """(N, P, d) centred tokens and (N, d) unit targets -> (N, d) image representations."""
    if weighting == "mean":
        return z.mean(1)
    weights = attention_weights(z, targets, grid, sigma=sigma, tau=tau, weighting=weighting)
    return torch.einsum("np,npd->nd", weights, z)


def cosine_objective(rep: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None = None,
                     negative_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss per row, cosine per row). Loss = −cos(r, v̂) + Σ_j w_j cos(r, n̂_j): negatives push away."""
    cosine = F.cosine_similarity(rep, targets, dim=-1, eps=1e-8)
    loss = -cosine
    if negatives is not None and negatives.numel():
        neg_cos = F.cosine_similarity(rep[:, None, :], negatives[None, :, :], dim=-1, eps=1e-8)  # (N, J)
        loss = loss + (neg_cos * negative_weights[None, :]).sum(-1)
    return loss, cosine
