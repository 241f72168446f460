"""Step 2 of the method: the optimisation loop (method.md b.3-b.6), in the spirit of Lucent's render.

For each (layer, seed), all targets travel together: B targets × K augmented copies in one forward.
Each target keeps its own problem: momentum is per element and the gradient-norm clip is applied per
image (the paper's global clip over all θ_r of that image), so batching never changes a result.
Host syncs happen every ``check_every`` steps only (NaN check and progress), not every step.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Callable, Mapping, Sequence

import torch

from ..concepts import concept_vectors, token_positions
from ..errors import UserError
from ..models.vlm import VLM
from . import augment
from .objective import aggregate, centre, cosine_objective
from .param import MultiResolutionImage
from .presets import SynthesisConfig, make_config
from .result import SynthesisResult

TargetSpec = Mapping[str, "torch.Tensor | Mapping[int, torch.Tensor]"]


def _as_list(value) -> list[int]:
    return [value] if isinstance(value, int) else list(value)


def _clip_per_image(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """Global grad-norm clip over all resolutions, separately for each image of the batch."""
    sq = sum(p.grad.flatten(1).pow(2).sum(1) for p in params)  # (B,)
    scale = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad.mul_(scale.view(-1, *([1] * (p.grad.dim() - 1))))


def _vectors_for_layer(spec: TargetSpec, layer: int, hidden: int) -> list[torch.Tensor]:
    out = []
    for label, value in spec.items():
        vec = value[layer] if isinstance(value, Mapping) else value
        vec = torch.as_tensor(vec, dtype=torch.float32).flatten().cpu()
        if vec.numel() != hidden:
            raise UserError(f"target {label!r} has {vec.numel()} dimensions, the model's residual has {hidden}")
        out.append(vec / vec.norm().clamp_min(1e-12))
    return out


def synthesize(vlm: VLM, concepts: str | Sequence[str] = (), *, layers: int | Sequence[int] = 1,
               seeds: int | Sequence[int] = 0, preset: str = "fast", steps: int | None = None,
               targets: TargetSpec | None = None, negatives: Mapping[str, float] | Sequence[str] | None = None,
               baseline=None, batch_size: int = 64, progress: bool = True, check_every: int = 10,
               on_result: Callable[[SynthesisResult], None] | None = None,
               skip: Callable[[str, int, int, str], bool] | None = None, **overrides) -> list[SynthesisResult]:
    """Optimise one image per (target, layer, seed); returns results in (layer, seed, target) order.

    ``concepts`` become concept vectors (step 1); ``targets`` adds raw directions by label (random or
    shuffled controls), either one (d,) vector or {layer: vector}. ``negatives`` maps concepts to
    push away from to weights (a list means weight 0.3 each, DAS's negative-prompt weight).
    ``overrides`` set any :class:`SynthesisConfig` field (lr, tau, copies, weighting, ...).
    ``skip(label, layer, seed, fingerprint)`` lets a caller resume: True means "already done".
    """
    concepts = [concepts] if isinstance(concepts, str) else [c.strip() for c in concepts]
    if any(not c for c in concepts):
        raise UserError("empty concept; give a word or phrase such as 'dog'")
    targets = dict(targets or {})
    if not concepts and not targets:
        raise UserError("nothing to synthesise: give at least one concept")
    vlm.require_vision()
    negatives = dict.fromkeys(negatives, 0.3) if isinstance(negatives, (list, tuple)) else dict(negatives or {})
    layers, seeds = _as_list(layers), _as_list(seeds)
    for layer in layers:
        vlm.check_layer(layer)
    configs = {l: make_config(preset, image_size=vlm.image_size, grid=vlm.grid, layer=l, num_layers=vlm.num_layers,
                              steps=steps, **overrides) for l in layers}
    if concepts:  # fail on a bad concept before any optimisation, not after an hour of other layers
        for concept in concepts:
            token_positions(vlm, concept, configs[layers[0]].prompt_format)
    labels = concepts + list(targets)
    kinds = ["concept"] * len(concepts) + ["vector"] * len(targets)
    total = sum(configs[l].steps for l in layers) * len(seeds) * -(-len(labels) // batch_size)
    bar = _progress(total, progress)
    results: list[SynthesisResult] = []
    try:
        for layer in layers:
            cfg = configs[layer]
            vectors = list(concept_vectors(vlm, concepts, layer, prompt_format=cfg.prompt_format, baseline=baseline)) if concepts else []
            vectors += _vectors_for_layer(targets, layer, vlm.hidden_size)
            neg = None
            if negatives:
                neg = (concept_vectors(vlm, list(negatives), layer, prompt_format=cfg.prompt_format, baseline=baseline),
                       torch.tensor(list(negatives.values()), dtype=torch.float32))
            extra = {"negatives": negatives, "baseline": str(baseline) if baseline else "default"}
            for seed in seeds:
                todo = list(range(len(labels)))
                if skip is not None:
                    fp = fingerprint(result_config(vlm, cfg, layer, seed, extra))
                    todo = [i for i in todo if not skip(labels[i], layer, seed, fp)]
                    if bar is not None:
                        bar.update(cfg.steps * (-(-len(labels) // batch_size) - -(-len(todo) // batch_size)))
                for start in range(0, len(todo), batch_size):
                    idx = todo[start:start + batch_size]
                    batch = run_batch(vlm, cfg, layer, seed, torch.stack([vectors[i] for i in idx]),
                                      [labels[i] for i in idx], [kinds[i] for i in idx], neg, bar, check_every, extra)
                    for result in batch:
                        if on_result:
                            on_result(result)
                    results.extend(batch)
    finally:
        if bar is not None:
            bar.close()
    return results


def result_config(vlm: VLM, cfg: SynthesisConfig, layer: int, seed: int, extra: dict | None = None) -> dict:
    """The config recorded with every result: the preset's values plus what else shaped the image."""
    return cfg.to_dict() | {"layer": layer, "seed": seed, "model": vlm.name} | dict(extra or {})


def fingerprint(config: dict) -> str:
    """A short hash of everything that determines an image (batch size does not: batching is neutral)."""
    stable = {k: v for k, v in config.items() if k not in ("batch_size", "snapshots")}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_batch(vlm: VLM, cfg: SynthesisConfig, layer: int, seed: int, vectors: torch.Tensor, labels: list[str],
              kinds: list[str], negatives=None, bar=None, check_every: int = 10,
              extra: dict | None = None) -> list[SynthesisResult]:
    """The optimisation for B targets at one layer and seed."""
    device, b, k = vlm.device, len(labels), cfg.copies
    started = time.perf_counter()
    gen = torch.Generator(device=device).manual_seed(seed)
    image = MultiResolutionImage(b, cfg.canvas, cfg.resolutions, cfg.upsample, cfg.init_noise, gen, device)
    params = list(image.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    gray = vlm.gray_reference(layer)
    target = vectors.to(device)
    target_k = target.repeat_interleave(k, 0)
    neg_vecs, neg_w = (negatives[0].to(device), negatives[1].to(device)) if negatives else (None, None)

    def represent(pixels: torch.Tensor, tgt: torch.Tensor, sigma: float) -> torch.Tensor:
        z = centre(vlm.image_tokens(pixels, layer), gray, cfg.per_position_centring)
        return aggregate(z, tgt, vlm.grid, sigma=sigma, tau=cfg.tau, weighting=cfg.weighting)

    with torch.no_grad():
        cos_initial = cosine_objective(represent(image(), target, cfg.sigma(0)), target)[1]
    history = torch.zeros(cfg.steps, 2, b, device=device)  # (loss, cosine) per step, synced rarely
    snapshots: dict[int, torch.Tensor] = {}
    for step in range(cfg.steps):
        offsets, eps = augment.draw(gen, k, cfg.canvas, cfg.max_shift, cfg.noise, device)
        copies = augment.shift_and_noise(image(), offsets, eps, cfg.max_shift)
        loss_rows, cos_rows = cosine_objective(represent(copies, target_k, cfg.sigma(step)), target_k, neg_vecs, neg_w)
        loss_per_image = loss_rows.view(b, k).mean(1)
        opt.zero_grad(set_to_none=True)
        loss_per_image.sum().backward()
        _clip_per_image(params, cfg.grad_clip)
        opt.step()
        history[step, 0] = loss_per_image.detach()
        history[step, 1] = cos_rows.detach().view(b, k).mean(1)
        if step + 1 in cfg.snapshots:
            snapshots[step + 1] = image().detach().cpu()
        if (step + 1) % check_every == 0 or step + 1 == cfg.steps:
            window = history[max(0, step + 1 - check_every): step + 1]
            if not torch.isfinite(window).all():
                raise UserError(f"the objective became NaN/inf near step {step + 1} at layer {layer}; "
                                "lower --lr, or use --dtype float32")
            if bar is not None:
                bar.update(min(check_every, (step % check_every) + 1))
                bar.set_postfix(layer=layer, seed=seed, cos=f"{history[step, 1].mean().item():.3f}")
    with torch.no_grad():
        final = image()
        cos_final = cosine_objective(represent(final, target, cfg.sigma_end), target)[1]
    seconds = (time.perf_counter() - started) / b
    hist = history.cpu()
    config = result_config(vlm, cfg, layer, seed, extra)
    config |= {"fingerprint": fingerprint(config), "batch_size": b}
    return [
        SynthesisResult(
            label=labels[i], layer=layer, seed=seed, model=vlm.name, image=final[i].cpu(),
            trajectory=[{"step": s + 1, "loss": round(float(hist[s, 0, i]), 6), "cosine": round(float(hist[s, 1, i]), 6)}
                        for s in range(cfg.steps)],
            cosine_initial=float(cos_initial[i]), cosine_final=float(cos_final[i]), seconds=seconds,
            config=dict(config), target=kinds[i], snapshots={s: img[i] for s, img in snapshots.items()},
        )
        for i in range(b)
    ]


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="synthesis", unit="step", dynamic_ncols=True)
