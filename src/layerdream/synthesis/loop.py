"""Step 2 of the method: the optimisation loop (method.md b.3-b.6), in the spirit of Lucent's render.

For each (layer, seed), all targets travel together: B targets × K augmented copies in one forward.
Each target keeps its own problem: momentum is per element and the gradient-norm clip is applied per
image (the paper's global clip over all θ_r of that image), so batching never changes a result.
Host syncs happen every ``check_every`` steps only (NaN check and progress), not every step.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from typing import Callable, Mapping, Sequence

import torch

from ..concepts import baseline_words, concept_vectors, token_positions
from ..errors import UserError
from ..models.vlm import VLM
from . import arguments, augment, determinism, eta
from .objective import aggregate, attention_weights, centre, cosine_objective, effective_tokens
from .memory import Plan, parse_bytes, plan
from .param import MultiResolutionImage
from .presets import SynthesisConfig, choose_preset, make_config
from .result import SynthesisResult

TargetSpec = Mapping[str, "torch.Tensor | Mapping[int, torch.Tensor]"]


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
               seeds: int | Sequence[int] = 0, preset: str | None = None, steps: int | None = None,
               targets: TargetSpec | None = None, negatives: Mapping[str, float] | Sequence[str] | None = None,
               baseline=None, batch_size: int | None = None, max_memory: int | str | None = None,
               checkpoint_vision: bool | str = "auto", deterministic: bool = False, progress: bool = True,
               check_every: int = 10, preset_rule: str | None = None,
               on_result: Callable[[SynthesisResult], None] | None = None,
               skip: Callable[[str, int, int, str], bool] | None = None, **overrides) -> list[SynthesisResult]:
    """Optimise one image per (target, layer, seed); returns results in (layer, seed, target) order.

    ``concepts`` become concept vectors (step 1); ``targets`` adds raw directions by label (random or
    shuffled controls), either one (d,) vector or {layer: vector}. ``negatives`` maps concepts to
    push away from to weights (a list means weight 0.3 each, DAS's negative-prompt weight).
    ``overrides`` set any :class:`SynthesisConfig` field (lr, tau, copies, weighting, ...).
    ``preset`` None picks ``paper`` for a real checkpoint and ``fast`` for a toy model
    (``presets.choose_preset``); every result records the rule as ``config["preset_rule"]`` (a caller
    that resolved the preset itself, a sweep, passes its rule as ``preset_rule``).
    ``skip(label, layer, seed, fingerprint)`` lets a caller resume: True means "already done".

    Memory is planned (``memory.plan``): at most ``batch_size`` targets share a forward, fewer if the
    budget (``max_memory`` bytes or "40GiB"; default: free device memory, half the free RAM on CPU)
    says so, and the K copies are split into micro-batches when even one target's K do not fit.
    An out-of-memory error that still happens splits the batch and retries it. None of this changes
    an image: batching and micro-batching are neutral (tested). ``deterministic`` switches a GPU to
    deterministic algorithms (docs/reproducibility.md); on CPU images are reproducible anyway.
    """
    concepts, layers, seeds, negatives = arguments.check(vlm, concepts, layers, seeds, steps, batch_size, negatives)
    targets = dict(targets or {})
    if not concepts and not targets:
        raise UserError("nothing to synthesise: give at least one concept")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--batch must be at least 1 concept per forward, got {batch_size}")
    vlm.require_vision()
    budget = parse_bytes(max_memory)
    for layer in layers:
        vlm.check_layer(layer)
    check_seeds(seeds)
    preset, rule = choose_preset(preset, vlm)
    preset_rule = preset_rule or rule
    configs = {l: make_config(preset, image_size=vlm.image_size, grid=vlm.grid, layer=l, num_layers=vlm.num_layers,
                              steps=steps, **overrides) for l in layers}
    for cfg in configs.values():  # record the format actually used (raw for checkpoints without a template)
        cfg.prompt_format = vlm.resolve_prompt_format(cfg.prompt_format)
        cfg.init_noise = max(cfg.init_noise, vlm.adapter.min_init_noise)  # families that drop a gray image
    if concepts:  # fail on a bad concept before any optimisation, not after an hour of other layers
        for concept in concepts:
            token_positions(vlm, concept, configs[layers[0]].prompt_format)
    if concepts or negatives:  # an unreadable baseline file: one line now, not after the progress bar started
        baseline_words(vlm, baseline)
    labels = concepts + list(targets)
    kinds = ["concept"] * len(concepts) + ["vector"] * len(targets)
    total = sum(configs[l].steps for l in layers) * len(seeds) * len(labels)
    for layer in layers:  # what cannot fit even one target is refused now, before the progress bar and any compute
        plan(vlm, configs[layer], layer, 1, budget, batch_size, checkpoint_vision)
    estimate = eta.Estimate(sum(configs[l].steps * configs[l].copies for l in layers) * len(seeds) * len(labels),
                            configs[layers[0]].copies, configs[layers[0]].steps)
    bar = _progress(total, progress)
    results: list[SynthesisResult] = []
    with determinism.deterministic(deterministic):
        try:
            for layer in layers:
                cfg = configs[layer]
                vectors = list(concept_vectors(vlm, concepts, layer, prompt_format=cfg.prompt_format, baseline=baseline)) if concepts else []
                vectors += _vectors_for_layer(targets, layer, vlm.hidden_size)
                neg = None
                if negatives:
                    neg = (concept_vectors(vlm, list(negatives), layer, prompt_format=cfg.prompt_format, baseline=baseline),
                           torch.tensor(list(negatives.values()), dtype=torch.float32))
                extra = {"negatives": negatives, "baseline": _baseline_id(vlm, baseline) if concepts or negatives else None,
                         "preset_rule": preset_rule}
                for seed in seeds:
                    todo = list(range(len(labels)))
                    if skip is not None:
                        config = result_config(vlm, cfg, layer, seed, extra)
                        todo = [i for i in todo if not skip(labels[i], layer, seed,
                                                            fingerprint(config, _target_id(labels[i], kinds[i], vectors[i])))]
                        if bar is not None:
                            bar.update(cfg.steps * (len(labels) - len(todo)))
                        estimate.total -= cfg.steps * cfg.copies * (len(labels) - len(todo))
                    if not todo:
                        continue
                    mem = plan(vlm, cfg, layer, len(todo), budget, batch_size, checkpoint_vision)
                    for start in range(0, len(todo), mem.concepts_per_forward):
                        idx = todo[start:start + mem.concepts_per_forward]
                        batch = _run_fitting(vlm, cfg, layer, seed, torch.stack([vectors[i] for i in idx]),
                                             [labels[i] for i in idx], [kinds[i] for i in idx], neg, bar, check_every,
                                             extra, mem, estimate=estimate)
                        for result in batch:
                            if on_result:
                                on_result(result)
                        results.extend(batch)
        finally:
            if bar is not None:
                bar.close()
    return results


def check_seeds(seeds: Sequence[int]) -> None:
    """Torch seeds are 64-bit: say so before any work instead of with a traceback after it."""
    for seed in seeds:
        if not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise UserError(f"--seed {seed} is out of range; use whole numbers from 0 to {2**63 - 1}")


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _run_fitting(vlm: VLM, cfg: SynthesisConfig, layer: int, seed: int, vectors: torch.Tensor, labels: list[str],
                 kinds: list[str], negatives, bar, check_every: int, extra: dict, mem: Plan,
                 estimate: eta.Estimate | None = None) -> list[SynthesisResult]:
    """``run_batch``, and if memory still runs out: halve the targets, then the micro-batch, then
    checkpoint the tower; only when one copy of one target cannot fit is it the user's problem."""
    try:
        return run_batch(vlm, cfg, layer, seed, vectors, labels, kinds, negatives, bar, check_every, extra, mem, estimate)
    except Exception as err:  # noqa: BLE001 - only out-of-memory is handled, anything else is re-raised
        if not _is_oom(err):
            raise
    # leaving the except block dropped the error and its frames (and the tensors they held)
    if vlm.device.type == "cuda":
        torch.cuda.empty_cache()
    if bar is not None:
        bar.write(f"layerdream: out of memory at {len(labels)} concept(s) x {mem.copies_per_micro_batch} copies "
                  "per forward; splitting and retrying")
    if len(labels) > 1:
        half = len(labels) // 2
        smaller = dataclasses.replace(mem, concepts_per_forward=max(1, half))
        return (_run_fitting(vlm, cfg, layer, seed, vectors[:half], labels[:half], kinds[:half], negatives, bar,
                             check_every, extra, smaller, estimate)
                + _run_fitting(vlm, cfg, layer, seed, vectors[half:], labels[half:], kinds[half:], negatives, bar,
                               check_every, extra, smaller, estimate))
    if mem.copies_per_micro_batch > 1:
        smaller = dataclasses.replace(mem, copies_per_micro_batch=mem.copies_per_micro_batch // 2)
    elif not mem.checkpoint_vision:
        smaller = dataclasses.replace(mem, checkpoint_vision=True)
    else:
        raise UserError(f"out of memory with one copy of one concept at layer {layer} ({vlm.device}); free the device, "
                        "use a smaller --dtype or a machine with more memory")
    return _run_fitting(vlm, cfg, layer, seed, vectors, labels, kinds, negatives, bar, check_every, extra, smaller, estimate)


def result_config(vlm: VLM, cfg: SynthesisConfig, layer: int, seed: int, extra: dict | None = None) -> dict:
    """The config recorded with every result: the preset's values plus what else shaped the image."""
    notes = getattr(vlm.adapter, "result_notes", None)  # e.g. Qwen3-VL: layer l read after DeepStack
    return cfg.to_dict() | {"layer": layer, "seed": seed, "model": vlm.name,
                            "dtype": str(vlm.dtype).removeprefix("torch.")} | (notes(layer) if notes else {}) | dict(extra or {})


# recorded with every result, but they do not change the image: batching and memory plans are neutral
_NOT_IN_FINGERPRINT = ("batch_size", "snapshots", "plan", "device", "threads", "mkl_cbwr", "deterministic", "preset_rule")


def _baseline_id(vlm: VLM, baseline) -> str:
    """The baseline by its words, not its name: an edited --baseline file is another concept vector."""
    from ..concepts import baseline_words

    words = baseline_words(vlm, baseline)
    name = "default" if baseline is None else (str(baseline) if isinstance(baseline, (str, os.PathLike)) else "list")
    return f"{name}:{hashlib.sha1(chr(10).join(words).encode()).hexdigest()[:12]}"


def _target_id(label: str, kind: str, vector: torch.Tensor) -> str:
    """What the fingerprint knows a target by: a concept by its text (its vector follows from the model
    and settings), a raw direction by its label *and* its values."""
    if kind == "concept":
        return label
    data = vector.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return f"{label}#{hashlib.sha256(data).hexdigest()[:12]}"


def fingerprint(config: dict, label: str | None = None) -> str:
    """A short hash of everything that determines one image: its settings and its target's label."""
    stable = {k: v for k, v in config.items() if k not in _NOT_IN_FINGERPRINT and k != "fingerprint"}
    if label is not None:
        stable["target_label"] = label
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_batch(vlm: VLM, cfg: SynthesisConfig, layer: int, seed: int, vectors: torch.Tensor, labels: list[str],
              kinds: list[str], negatives=None, bar=None, check_every: int = 10,
              extra: dict | None = None, mem: Plan | None = None,
              estimate: eta.Estimate | None = None) -> list[SynthesisResult]:
    """The optimisation for B targets at one layer and seed.

    Each step draws the K augmentations and upscales the image for the shifts once, then runs the
    copies in micro-batches of ``mem.copies_per_micro_batch``: their gradients accumulate on a
    detached copy of the upscaled canvas, and one backward through the upscale and the
    parameterisation follows. With one micro-batch this is exactly the plain step; with several it
    differs only in float summation order.
    """
    device, b, k = vlm.device, len(labels), cfg.copies
    micro = min(k, mem.copies_per_micro_batch) if mem is not None else k
    started = time.perf_counter()
    gen = torch.Generator(device=device).manual_seed(seed)
    image = MultiResolutionImage(b, cfg.canvas, cfg.resolutions, cfg.upsample, cfg.init_noise, gen, device)
    params = list(image.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    gray = vlm.gray_reference(layer, cfg.prompt_format)
    target = vectors.to(device)
    targets_k = {n: target.repeat_interleave(n, 0) for n in {micro, k % micro or micro}}  # per micro-batch size
    neg_vecs, neg_w = (negatives[0].to(device), negatives[1].to(device)) if negatives else (None, None)

    flat = not getattr(vlm.adapter, "spatial_layout", True)  # learned queries: no place in the image, no prior

    def represent(pixels: torch.Tensor, tgt: torch.Tensor, sigma: float) -> torch.Tensor:
        z = centre(vlm.image_tokens(pixels, layer, cfg.prompt_format), gray, cfg.per_position_centring)
        return aggregate(z, tgt, vlm.grid, sigma=math.inf if flat else sigma, tau=cfg.tau, weighting=cfg.weighting)

    with torch.no_grad():
        cos_initial = cosine_objective(represent(image(), target, cfg.sigma(0)), target)[1]
    history = torch.zeros(cfg.steps, 2, b, device=device)  # (loss, cosine) per step, synced rarely
    snapshots: dict[int, torch.Tensor] = {}
    with vlm.checkpointed_vision(mem is not None and mem.checkpoint_vision):
        for step in range(cfg.steps):
            offsets, eps = augment.draw(gen, k, cfg.canvas, cfg.max_shift, cfg.noise, device)
            big = augment.upscale(image(), cfg.max_shift)  # once per step, whatever the micro-batches
            leaf = big.detach().requires_grad_(True)
            for c0 in range(0, k, micro):
                c1 = min(k, c0 + micro)
                if estimate is not None and step == 0 and c0 == 0:
                    estimate.start(device)
                copies = augment.crop_and_noise(leaf, offsets[c0:c1], None if eps is None else eps[c0:c1], cfg.canvas)
                tgt = targets_k[c1 - c0]
                loss_rows, cos_rows = cosine_objective(represent(copies, tgt, cfg.sigma(step)), tgt, neg_vecs, neg_w)
                (loss_rows.view(b, c1 - c0).sum(1) / k).sum().backward()
                history[step, 0] += loss_rows.detach().view(b, -1).sum(1) / k
                history[step, 1] += cos_rows.detach().view(b, -1).sum(1) / k
                if estimate is not None and step == 0 and c0 == 0:
                    estimate.stop(device, b * (c1 - c0))  # a note when the whole call will take long
            opt.zero_grad(set_to_none=True)
            big.backward(leaf.grad)
            _clip_per_image(params, cfg.grad_clip)
            opt.step()
            if step + 1 in cfg.snapshots:
                snapshots[step + 1] = image().detach().cpu()
            if (step + 1) % check_every == 0 or step + 1 == cfg.steps:
                window = history[max(0, step + 1 - check_every): step + 1]
                if not torch.isfinite(window).all():
                    raise UserError(f"the objective became NaN/inf near step {step + 1} at layer {layer}; "
                                    "lower --lr, or use --dtype float32")
                if bar is not None:
                    bar.update(b * min(check_every, (step % check_every) + 1))
                    bar.set_postfix(layer=layer, seed=seed, cos=f"{history[step, 1].mean().item():.3f}")
    with torch.no_grad():
        final = image()
        z = centre(vlm.image_tokens(final, layer, cfg.prompt_format), gray, cfg.per_position_centring)
        sigma_end = math.inf if flat else cfg.sigma_end
        rep = aggregate(z, target, vlm.grid, sigma=sigma_end, tau=cfg.tau, weighting=cfg.weighting)
        cos_final = cosine_objective(rep, target)[1]
        weights = attention_weights(z, target, vlm.grid, sigma=sigma_end, tau=cfg.tau, weighting=cfg.weighting)
        n_eff = effective_tokens(weights).cpu()  # what the final image's representation rests on
    seconds = (time.perf_counter() - started) / b
    hist = history.cpu()
    config = result_config(vlm, cfg, layer, seed, extra)
    config |= determinism.record() | {"batch_size": b, "device": device.type,
               "plan": (mem.to_dict() | {"concepts_per_forward": b}) if mem is not None else None}
    return [
        SynthesisResult(
            label=labels[i], layer=layer, seed=seed, model=vlm.name, image=final[i].cpu(),
            trajectory=[{"step": s + 1, "loss": round(float(hist[s, 0, i]), 6), "cosine": round(float(hist[s, 1, i]), 6)}
                        for s in range(cfg.steps)],
            cosine_initial=float(cos_initial[i]), cosine_final=float(cos_final[i]), seconds=seconds,
            config=config | {"fingerprint": fingerprint(config, _target_id(labels[i], kinds[i], vectors[i]))},
            target=kinds[i],
            snapshots={s: img[i] for s, img in snapshots.items()},
            effective_tokens=round(float(n_eff[i]), 4), image_tokens=int(weights.shape[1]),
        )
        for i in range(b)
    ]


def _progress(total: int, enabled: bool):
    from ..progress import bar

    return bar(total, "synthesis", unit="step") if enabled else None
