"""How much did co-training change the language model? Full-vocabulary KL(frozen 270M || model) per
token and both perplexities on real English text the training never saw.

The frozen reference is toy-gemma's LM, which is the realmodel package's 270M bit for bit; the
co-trained model is loaded as the product loads it (adapters merged). The stage's own metrics
(``toyworld.json`` -> ``training.lm_drift``) measure the same on held-out samples of the frozen 270M;
this script adds text that is not the model's own.

    python scripts/toy_gemma_drift.py --model toy-gemma-cotrained --text README.md docs/method.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    import torch
    import torch.nn.functional as F

    import layerdream as ld

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="toy-gemma-cotrained")
    p.add_argument("--text", type=Path, nargs="+", required=True, help="plain-text/markdown files")
    p.add_argument("--tokens", type=int, default=512, help="tokens per file (default 512, from the start)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    frozen, model = ld.load("toy-gemma", device="cpu").model, ld.load(args.model, device="cpu").model
    tok = ld.load("toy-gemma", device="cpu").tokenizer
    out = {"model": args.model, "reference": "toy-gemma (the realmodel Gemma 3 270M, frozen)", "files": {}}
    for f in args.text:
        ids = torch.tensor([[tok.bos_token_id] + tok(f.read_text(), add_special_tokens=False)["input_ids"][:args.tokens]])
        with torch.no_grad():
            lp0 = F.log_softmax(frozen(input_ids=ids).logits[0, :-1].float(), -1)
            lp1 = F.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
        tgt = ids[0, 1:, None]
        kl = (lp0.exp() * (lp0 - lp1)).sum(-1)
        out["files"][str(f)] = {"tokens": int(tgt.numel()), "kl_per_token": round(float(kl.mean()), 5),
                                "kl_per_token_p95": round(float(kl.quantile(0.95)), 5),
                                "perplexity_frozen": round(float((-lp0.gather(-1, tgt).mean()).exp()), 3),
                                "perplexity_model": round(float((-lp1.gather(-1, tgt).mean()).exp()), 3),
                                "top1_agreement": round(float((lp0.argmax(-1) == lp1.argmax(-1)).float().mean()), 4)}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
