"""B4: the paper's setting on a GPU: a random-init Gemma 3 4B with the full real config, paper preset, bf16.

No weights are needed for a speed and memory measurement: the cost of a step depends on the geometry
(SigLIP-So400m at 896 px, 27 layers; 34 text layers of width 2560; 256 image tokens), not on the
values. The model is built directly on the GPU in bf16, so no fp32 copy ever sits in CPU memory.

Reported: seconds per image extrapolated to the preset's 600 steps (timed over a short run and a run
twice as long, so the per-step slope and the per-batch fixed cost separate), peak GPU memory, the dtype
and plan the engine recorded, early exit vs. full forward (``early_exit.measure``), and the achieved
fraction of the card's peak dense bf16 FLOP/s, counted with ``flops.py``.

``tiny=True`` runs the same code on a small config on the CPU, so the path is tested where there is
no GPU (CI, this repository's tests); its numbers mean nothing.
"""
from __future__ import annotations

import inspect
import time

import torch

from . import common, early_exit, flops

# dense bf16 tensor-core peaks (TFLOP/s) by a substring of torch.cuda.get_device_name; first match wins
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0),
                    ("L40S", 362.0), ("4090", 165.0))

PAPER_STEPS = 600

GEMMA3_4B_VISION = dict(model_type="siglip_vision_model", image_size=896, patch_size=14, hidden_size=1152,
                        intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, vision_use_head=False,
                        layer_norm_eps=1e-6)
GEMMA3_4B_TEXT = dict(hidden_size=2560, intermediate_size=10240, num_hidden_layers=34, num_attention_heads=8,
                      num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256, vocab_size=262208,
                      sliding_window=1024, max_position_embeddings=131072,
                      rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                                       "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
GEMMA3_4B_TOKENS = 256
# the same code path at a size a CPU runs in seconds (tests): 56 px / patch 14 -> 4x4 patches -> 2x2 tokens
TINY_VISION = dict(image_size=56, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32, vocab_size=512)
TINY_TOKENS = 4


def peak_bf16_flops(name: str | None) -> float | None:
    for key, tflops in PEAK_BF16_TFLOPS:
        if name and key in name:
            return tflops * 1e12
    return None


def layer_types(n: int) -> list[str]:
    """Gemma 3's 5 local : 1 global pattern (every sixth layer global)."""
    return ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n)]


def build_vlm(device: str, dtype: torch.dtype, tiny: bool = False):
    """A random-init ``Gemma3ForConditionalGeneration`` of the 4B geometry (or tiny), wrapped as a VLM.

    The tokenizer is the offline word-level one of ``layerdream.models.tiny`` (speaks Gemma's chat
    template and special tokens); only the prompt's layout matters for speed, not the vocabulary.
    """
    from layerdream.models.gemma3 import Gemma3Adapter
    from layerdream.models.tiny import build_tiny_gemma3
    from layerdream.models.vlm import VLM

    vision, text = dict(GEMMA3_4B_VISION), dict(GEMMA3_4B_TEXT)
    tokens = TINY_TOKENS if tiny else GEMMA3_4B_TOKENS
    if tiny:
        vision.update(TINY_VISION)
        text.update(TINY_TEXT)
    text["layer_types"] = layer_types(text["num_hidden_layers"])
    model, _, processor = build_tiny_gemma3(["concept"], image_size=vision["image_size"], patch_size=vision["patch_size"],
                                            mm_tokens_per_image=tokens, vision=vision, text=text, device=device,
                                            dtype=dtype)
    model.requires_grad_(False)
    name = "random-init Gemma 3 " + ("tiny (CPU path test)" if tiny else "4B (gemma-3-4b-it config)")
    return VLM(model, processor, Gemma3Adapter(model, processor), name=name)


def planner():
    """The memory planner if this layerdream has it (issue 9, being built), else None."""
    import layerdream as ld

    try:
        from layerdream.synthesis import memory
    except ImportError:
        return None
    if "max_memory" not in inspect.signature(ld.synthesize).parameters or not hasattr(memory, "plan"):
        return None
    return memory


def run(quick: bool = False, tiny: bool = False, steps: int | None = None, layer: int = 1, max_memory: int | None = None,
        repeats: int | None = None, max_concepts: int = 16) -> dict:
    """B4; returns {"skipped": reason} without CUDA unless ``tiny``."""
    import layerdream as ld
    from layerdream.synthesis.presets import make_config

    if not torch.cuda.is_available() and not tiny:
        return {"skipped": "no CUDA device (torch.cuda.is_available() is False); run it where a GPU is lent"}
    device = "cpu" if tiny else "cuda"
    steps = steps or (4 if tiny or quick else 20)
    repeats = repeats or (1 if tiny or quick else 3)
    gpu = None if tiny else torch.cuda.get_device_name(0)
    started = time.perf_counter()
    vlm = build_vlm(device, torch.bfloat16, tiny=tiny)
    common.sync()
    build_s = time.perf_counter() - started
    params = sum(p.numel() for p in vlm.model.parameters())
    cfg = make_config("paper", image_size=vlm.image_size, grid=vlm.grid, layer=layer, num_layers=vlm.num_layers,
                      steps=steps)
    budget = max_memory  # None: the engine's default (90 % of the GPU's free memory)
    memory = planner()
    plan_record: dict | None = None
    if memory is not None:
        p = memory.plan(vlm, cfg, layer=layer, n_targets=max_concepts, budget_bytes=budget)
        cpf = min(int(p.concepts_per_forward), max_concepts)
        plan_record = p.to_dict() if hasattr(p, "to_dict") else {
            k: getattr(p, k, None) for k in ("concepts_per_forward", "copies_per_micro_batch", "bytes_per_copy")}
        engine_opts = dict(batch_size=None, max_memory=budget)
        note = "concepts per forward chosen by layerdream.synthesis.memory.plan"
    else:
        cpf = 1
        engine_opts = dict(batch_size=1)
        note = "planner not available in this layerdream: 1 concept per forward (fits 80 GB); rerun once it lands"
    gen = torch.Generator().manual_seed(0)
    targets = {f"direction{i}": torch.randn(vlm.hidden_size, generator=gen) for i in range(cpf)}

    def synth(n_steps: int):
        return ld.synthesize(vlm, [], layers=layer, seeds=0, preset="paper", steps=n_steps, targets=targets,
                             progress=False, **engine_opts)

    synth(2)  # warm-up: kernels, the gray reference, the prompt's masks
    short, long = steps, 2 * steps
    t_short = common.timed(lambda: synth(short))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    out: list = []
    t_long = common.timed(lambda: out.extend(synth(long)))
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    per_step = (t_long - t_short) / (long - short)
    if per_step <= 0:  # noise swamped the difference: the plain mean is the honest fallback
        per_step, fixed = t_long / long, 0.0
    else:
        fixed = max(0.0, t_short - short * per_step)
    per_image = (fixed + PAPER_STEPS * per_step) / cpf

    prompt = {k: v for k, v in vlm.image_prompt().items()}
    image_pos = vlm.adapter.image_positions(prompt["input_ids"].cpu()).to(vlm.device)
    seq = int(prompt["input_ids"].shape[-1])
    sf = flops.step_flops(vlm.model.config, layer, seq)
    flop_per_step = cpf * cfg.copies * sf.early_exit
    achieved = flop_per_step / per_step
    peak_flops = peak_bf16_flops(gpu)
    # one engine forward carries copies_per_micro_batch copies of a concept: time the three ways at that size
    copies = int((plan_record or {}).get("copies_per_micro_batch") or cfg.copies)
    try:
        ways = early_exit.measure(vlm, prompt, image_pos, vlm.adapter.preprocess, cfg.canvas, [layer], copies, repeats)
    except torch.cuda.OutOfMemoryError as err:  # the full ways keep more alive than the engine: keep B4's other numbers
        ways = [{"layer": layer, "error": f"out of memory at {copies} copies: {str(err).splitlines()[0][:120]}"}]
    if device == "cuda":
        torch.cuda.empty_cache()
    recorded = out[0].config if out else {}
    image_flops = PAPER_STEPS * cfg.copies * sf.early_exit
    return {
        "model": vlm.name, "parameters": params, "weights_bytes": params * 2, "device": gpu or "cpu", "dtype": str(vlm.dtype).replace("torch.", ""),
        "recorded_dtype": recorded.get("dtype"), "recorded_plan": recorded.get("plan"), "build_s": build_s,
        "layer": layer, "copies": cfg.copies, "image_size": vlm.image_size, "canvas": cfg.canvas, "sequence": seq,
        "timed_steps": [short, long], "seconds": {"short_run": t_short, "long_run": t_long},
        "seconds_per_step": per_step, "fixed_seconds_per_batch": fixed,
        "concepts_per_forward": cpf, "planner": plan_record, "planner_note": note, "budget_bytes": budget,
        "seconds_per_image_600_steps": per_image,
        "extrapolated": f"per-step slope of a {short}- and a {long}-step run, x {PAPER_STEPS} steps, + fixed cost, / concepts per forward",
        "peak_memory_bytes": peak,
        "flops_per_image": image_flops,
        "flops_per_image_issue_convention": PAPER_STEPS * cfg.copies * 2 * sf.early_exit_forward,
        "achieved_flops_per_s": achieved, "peak_bf16_flops_per_s": peak_flops,
        "fraction_of_peak": achieved / peak_flops if peak_flops else None,
        "seconds_per_image_at_peak": image_flops / peak_flops if peak_flops else None,
        "goal_seconds_per_image": 100.0, "early_exit": ways,
    }


def _gib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.1f}"


def report(result: dict) -> str:
    if "skipped" in result:
        return f"B4 GPU: skipped: {result['skipped']}"
    r = result
    peak = r["peak_memory_bytes"]
    rows = [
        ["device / dtype (recorded)", f"{r['device']} / {r['dtype']} ({r['recorded_dtype'] or 'not recorded'})"],
        ["concepts per forward", f"{r['concepts_per_forward']} ({r['planner_note']})"],
        ["copies per micro-batch (of K)", (r["planner"] or {}).get("copies_per_micro_batch", "n/a")],
        ["planned GiB per forward", _gib((r["planner"] or {}).get("predicted_bytes"))],
        ["s per step (B concepts x K copies)", common.fmt(r["seconds_per_step"])],
        [f"s per image, {PAPER_STEPS} steps (extrapolated)", f"{r['seconds_per_image_600_steps']:.1f} (goal <= 100)"],
        ["s per image at 100% of peak bf16", common.fmt(r["seconds_per_image_at_peak"], 1)],
        ["peak GPU memory GiB (max_memory_allocated, weights included)", _gib(peak)],
        ["weights GiB (bf16)", _gib(r["weights_bytes"])],
        ["achieved TFLOP/s", f"{r['achieved_flops_per_s'] / 1e12:.1f}"],
        ["fraction of peak bf16", common.fmt(r["fraction_of_peak"], 2)],
    ]
    for w in r["early_exit"]:
        if "error" in w:
            rows.append([f"early exit vs full forward at layer {w['layer']}", w["error"]])
            continue
        s = w["seconds"]
        for way in ("full-model", "full-logits"):
            pair = w.get(f"{way}/early-exit")
            if pair:
                rows.append([f"{way} / early-exit at layer {w['layer']} (one step, {w.get('copies', 'K')} copies)",
                             f"{pair['measured']:.2f}x (ideal {pair['ideal']:.2f}x; early {s['early-exit']:.3f} s)"])
        if w.get("backward/forward"):
            rows.append(["backward / forward of the early-exit step (FLOP model)",
                         f"{w['backward/forward']['measured']:.2f} ({w['backward/forward']['flops']:.2f})"])
    head = (f"B4 GPU: {r['model']}, {r['parameters'] / 1e9:.2f} B parameters, paper preset at layer {r['layer']}, "
            f"K={r['copies']}, {r['image_size']} px; {r['extrapolated']}")
    return head + "\n\n" + common.table(["quantity", "value"], rows)
