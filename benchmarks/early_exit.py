"""B1: a synthesis step with early exit at layer ℓ vs. the two ways that run the whole model.

One step = forward + backward to the pixels of K copies, the engine's hot path. Three ways to get the
layer-ℓ residual are timed side by side in one run, interleaved, and reported as ratios next to the
FLOP-share ideal (``flops.py``):

  early-exit   layerdream: hook on block ℓ, stop there (no later blocks, no norm, no logits)
  full-model   ``model.model(..., output_hidden_states=True).hidden_states[ℓ]`` (all blocks, no logits)
  full-logits  the R1-style step: the top-level forward with ``output_hidden_states=True`` (all blocks
               and the vocabulary logits at every position), as a naive script calls it

A fourth way, early-exit-forward (the same forward, no backward), splits the early-exit step into
forward and backward: the ideal assumes the backward costs what its matmuls cost (about 1x the
forward with frozen weights), and the measured backward/forward ratio shows how far a machine is
from that. The blocks early exit skips cost forward only, so the more the backward of the kept part
costs beyond its FLOPs, the further the measured speed-up falls below the FLOP-share ideal.

All three get the same inputs, including the prompt's prebuilt attention-mask dict (the engine reuses
it every step), so the ratio isolates what early exit skips.

Model: the real pre-trained Gemma 3 270M language model (18 layers, d = 640, 262k vocabulary; extra
``realmodel``) + a small random SigLIP tower, so the cost past the vision tower is real. The step code
(:func:`measure`) is shared with B4, which runs it on the random-init Gemma 3 4B.

    python benchmarks/suite.py --only B1
"""
from __future__ import annotations

from typing import Callable

import torch

from . import common, flops

WAYS = ("early-exit", "full-model", "full-logits", "early-exit-forward")
GOAL = 1.1  # issue 9: the measured speed-up within 1.1x of the FLOP-share ideal


def reference_prompt_ids(tokens: int) -> list[int]:
    """Gemma 3's image-only chat turn with ``tokens`` image tokens, as the real tokenizer writes it.

    <bos><start_of_turn>user\\n\\n\\n<boi> IMG×n <eoi>\\n\\n<end_of_turn>\\n<start_of_turn>model\\n
    """
    return [2, 105, 2364, 107, 108, 255999] + [262144] * tokens + [256000, 108, 106, 107, 105, 4368, 107]


def capture_masks(vlm, inputs: dict):
    """The per-layer-type attention-mask dict the decoder builds for this prompt (None if it builds none).

    transformers 5 accepts the dict back as ``attention_mask`` and then skips rebuilding it, which is
    what the engine does every step; every way in :func:`measure` gets the same dict.
    """
    grabbed = {}

    def grab(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if isinstance(mask, dict):
            grabbed["masks"] = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in mask.items()}

    handle = vlm.model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            vlm.residual(1, **inputs)
    finally:
        handle.remove()
    return grabbed.get("masks")


def make_step(vlm, inputs: dict, image_pos: torch.Tensor, preprocess: Callable[[torch.Tensor], dict],
              side: int, copies: int, way: str, layer: int) -> Callable[[], None]:
    """One forward+backward to the pixels of ``copies`` random images, reading layer ℓ ``way``'s way.

    The pixels are drawn once, outside the timed step (drawing 8 x 3 x 224^2 random numbers each step
    was 4-5 % of the early-exit step: benchmark overhead in the denominator of every ratio); each step
    only clears their gradient.
    """
    dtype = vlm.dtype
    pixels = torch.rand(copies, 3, side, side, device=vlm.device).requires_grad_(True)

    def step() -> None:
        pixels.grad = None
        feed = dict(inputs, **{k: v.to(dtype) for k, v in preprocess(pixels).items()})
        if way in ("early-exit", "early-exit-forward"):
            hidden = vlm.residual(layer, **feed)
        elif way == "full-model":
            hidden = vlm.backbone(**feed, use_cache=False, output_hidden_states=True).hidden_states[layer]
        elif way == "full-logits":
            hidden = vlm.model(**feed, use_cache=False, output_hidden_states=True).hidden_states[layer]
        else:
            raise ValueError(way)
        if way == "early-exit-forward":
            return
        hidden[:, image_pos].float().pow(2).mean().backward()
        if pixels.grad is None:
            raise RuntimeError("no gradient reached the pixels")

    return step


def measure(vlm, prompt: dict, image_pos: torch.Tensor, preprocess: Callable[[torch.Tensor], dict], side: int,
            layers: list[int], copies: int, repeats: int, ways: tuple[str, ...] = WAYS) -> list[dict]:
    """Median seconds per step of each way at each layer, interleaved, with the FLOP-share ideal."""
    inputs = {k: v.expand(copies, -1).to(vlm.device) for k, v in prompt.items()}
    with torch.no_grad():
        probe = dict(inputs, **{k: v.to(vlm.dtype) for k, v in
                                preprocess(torch.rand(copies, 3, side, side, device=vlm.device)).items()})
    masks = capture_masks(vlm, probe)
    if masks is not None:
        inputs["attention_mask"] = masks
    seq = prompt["input_ids"].shape[-1]
    rows = []
    for layer in layers:
        steps = {way: make_step(vlm, inputs, image_pos, preprocess, side, copies, way, layer) for way in ways}
        times, cpu = common.interleaved_clocks(steps, repeats)
        med = {way: common.best(t) for way, t in times.items()}
        cpu_best = {way: common.best(t) for way, t in cpu.items()}
        ideal = flops.step_flops(vlm.model.config, layer, seq)
        row = {"layer": layer, "copies": copies, "seconds": med, "median_seconds": {w: common.median(t) for w, t in times.items()},
               "samples": times, "cpu_seconds": cpu_best, "cpu_samples": cpu, "flops_per_copy": ideal.as_dict()}
        for way, attr in (("full-model", "full_model"), ("full-logits", "full_logits")):
            if way in med:
                measured = med[way] / med["early-exit"]
                best = getattr(ideal, attr) / ideal.early_exit
                measured_cpu = cpu_best[way] / cpu_best["early-exit"] if cpu_best["early-exit"] > 0 else None
                row[f"{way}/early-exit"] = {"measured": measured, "ideal": best, "measured_over_ideal": measured / best,
                                            "within_goal": measured >= best / GOAL, "measured_cpu_time": measured_cpu,
                                            "cpu_time_over_ideal": measured_cpu / best if measured_cpu else None}
        rates = {"early-exit step": copies * ideal.early_exit / med["early-exit"]}
        if "full-model" in med and med["full-model"] > med["early-exit"]:
            rates["skipped blocks"] = copies * (ideal.full_model - ideal.early_exit) / (med["full-model"] - med["early-exit"])
        if {"full-model", "full-logits"} <= set(med) and med["full-logits"] > med["full-model"]:
            rates["logits"] = copies * (ideal.full_logits - ideal.full_model) / (med["full-logits"] - med["full-model"])
        row["flops_per_s"] = rates  # a part that runs at a higher rate than the early-exit step pulls the ratio below the ideal
        if "early-exit-forward" in med:
            fwd = med["early-exit-forward"]
            row["backward/forward"] = {"measured": (med["early-exit"] - fwd) / fwd,
                                       "flops": ideal.early_exit / ideal.early_exit_forward - 1}
        rows.append(row)
    return rows


def run(quick: bool = False, copies: int | None = None, repeats: int | None = None, layers: list[int] | None = None,
        model=None) -> dict:
    """B1 on the real-depth 270M model (or ``model``, a Gemma3ForConditionalGeneration, for tests)."""
    from layerdream.models.vlm import VLM

    tokens, side = 64, 224
    if model is None:
        from layerdream.models.reference import gemma3_270m_with_vision

        model = gemma3_270m_with_vision(image_size=side, patch_size=14, tokens_per_image=tokens)
    else:
        side, tokens = model.config.vision_config.image_size, model.config.mm_tokens_per_image
    vlm = VLM(model, None, adapter=None, name="gemma3-270m+vision")
    depth = vlm.num_layers
    layers = layers or sorted({1, max(1, depth // 2), depth})
    copies = copies or (2 if quick else 8)
    repeats = repeats or (1 if quick else 3)
    ids = torch.tensor([reference_prompt_ids(tokens)])
    ids[ids == 262144] = model.config.image_token_id
    prompt = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
              "token_type_ids": (ids == model.config.image_token_id).long()}
    image_pos = (ids[0] == model.config.image_token_id).nonzero().flatten().to(vlm.device)
    text = model.config.get_text_config()
    rows = measure(vlm, prompt, image_pos, lambda x: {"pixel_values": x * 2 - 1}, side, layers, copies, repeats)
    return {
        "model": f"Gemma 3 270M LM ({depth} layers, d={text.hidden_size}, vocab {text.vocab_size}) + random SigLIP "
                 f"{side}px ({model.config.vision_config.num_hidden_layers} layers, d={model.config.vision_config.hidden_size})",
        "image_tokens": tokens, "sequence": int(ids.shape[-1]), "copies": copies, "repeats": repeats,
        "statistic": "best of the interleaved rounds (medians in median_seconds)", "rows": rows, "goal": f"measured speed-up >= ideal / {GOAL}",
    }


def report(result: dict) -> str:
    head = (f"B1 early exit: {result['model']}, K={result['copies']} copies, {result['sequence']} tokens, "
            f"best of {result['repeats']} interleaved rounds (fwd+bwd to the pixels)")
    rows = []
    for r in result["rows"]:
        s, fm, fl = r["seconds"], r.get("full-model/early-exit"), r.get("full-logits/early-exit")
        rows.append([r["layer"], common.fmt(s["early-exit"]), common.fmt(s.get("full-model")), common.fmt(s.get("full-logits")),
                     common.ratio(fm and fm["measured"]), common.ratio(fm and fm.get("measured_cpu_time")),
                     common.ratio(fm and fm["ideal"]),
                     common.ratio(fl and fl["measured"]), common.ratio(fl and fl.get("measured_cpu_time")),
                     common.ratio(fl and fl["ideal"]),
                     _goal(fm, fl), _bwd(r.get("backward/forward"))])
    headers = ["layer", "early-exit s/step", "model.model s/step", "R1 (logits) s/step", "model.model / early",
               "(CPU time)", "ideal", "R1 / early", "(CPU time)", "ideal", f"within {GOAL}x of ideal (wall)",
               "bwd/fwd measured (FLOPs)"]
    return head + "\n\n" + common.table(headers, rows)


def _bwd(pair: dict | None) -> str:
    return "n/a" if not pair else f"{pair['measured']:.2f} ({pair['flops']:.2f})"


def _goal(*pairs) -> str:
    marks = ["yes" if p["within_goal"] else f"no ({p['measured_over_ideal']:.2f} of ideal)" for p in pairs if p]
    return " / ".join(marks) or "n/a"

