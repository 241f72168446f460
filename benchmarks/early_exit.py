"""Synthesis step time at layer ℓ with early exit vs. a full forward, on a real-depth Gemma 3.

Model: the real pre-trained Gemma 3 270M language model (18 layers, d=640, 262k vocab; extra
`realmodel`) + a small random SigLIP tower, so the cost past the vision tower is real. One step =
forward + backward to the pixels of K augmented copies, the engine's hot path. Three ways to get
the layer-ℓ residual are timed side by side in one run, interleaved, and reported as ratios:

  early-exit   layerdream: hook on block ℓ, stop there (no later blocks, no norm, no logits)
  full-model   model.model(..., output_hidden_states=True).hidden_states[ℓ]  (all blocks, no logits)
  full-logits  the top-level forward as a naive script calls it (all blocks + 262k-vocab logits)

    python benchmarks/early_exit.py --layers 1,6,12 --copies 8 --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", default="1,6,12")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--tokens", type=int, default=64, help="image tokens per image (square)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from layerdream.models.reference import gemma3_270m_folder, gemma3_270m_with_vision
    from layerdream.models.vlm import VLM
    from transformers import AutoTokenizer

    model = gemma3_270m_with_vision(image_size=args.image_size, patch_size=14, tokens_per_image=args.tokens)
    vlm = VLM(model, AutoTokenizer.from_pretrained(gemma3_270m_folder()), adapter=None, name="gemma3-270m+vision")
    # the image-only chat turn's layout: <bos><start_of_turn>user\n\n\n<boi> IMG*n <eoi>\n\n<end_of_turn>\n<start_of_turn>model\n
    ids = [2, 105, 2364, 107, 108, 255999] + [262144] * args.tokens + [256000, 108, 106, 107, 105, 4368, 107]
    ids = torch.tensor([ids]).expand(args.copies, -1)
    base = dict(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=(ids == 262144).long())
    image_pos = (ids[0] == 262144).nonzero().flatten()

    def step(how: str, layer: int) -> float:
        pixels = torch.rand(args.copies, 3, args.image_size, args.image_size, requires_grad=True)
        started = time.perf_counter()
        inputs = dict(base, pixel_values=pixels * 2 - 1)
        if how == "early-exit":
            hidden = vlm.residual(layer, **inputs)
        elif how == "full-model":
            hidden = vlm.backbone(**inputs, use_cache=False, output_hidden_states=True).hidden_states[layer]
        else:
            hidden = model(**inputs, use_cache=False, output_hidden_states=True).hidden_states[layer]
        hidden[:, image_pos].float().pow(2).mean().backward()
        assert pixels.grad is not None
        return time.perf_counter() - started

    ways = ("early-exit", "full-model", "full-logits")
    print(f"# Gemma 3 270M (18 layers) + SigLIP {args.image_size}px, {args.tokens} image tokens, K={args.copies}, "
          f"{args.threads} threads, median of {args.repeats}")
    print("| layer | early-exit s/step | full-model s/step | full-logits s/step | full-model / early-exit | full-logits / early-exit |")
    print("|---|---|---|---|---|---|")
    for layer in [int(x) for x in args.layers.split(",")]:
        for how in ways:
            step(how, layer)  # warm-up
        times = {how: [] for how in ways}
        for _ in range(args.repeats):
            for how in ways:  # interleaved, so drift in machine load hits all three alike
                times[how].append(step(how, layer))
        med = {how: statistics.median(t) for how, t in times.items()}
        print(f"| {layer} | {med['early-exit']:.3f} | {med['full-model']:.3f} | {med['full-logits']:.3f} | "
              f"{med['full-model'] / med['early-exit']:.2f}x | {med['full-logits'] / med['early-exit']:.2f}x |")


if __name__ == "__main__":
    main()
