"""Co-training the Gemma 3 270M itself (``toy-gemma-cotrained``): low-rank adapters on its blocks, a
text-retention term, and the measurement of how much the language model changed.

Why: ``toy-gemma`` (LM frozen) aligns image and text from layer 4, not layer 1. Off-the-shelf VLMs
whose LM was trained on images align early (LatentLens), so the question is whether training the LM
is what moves the alignment. The second stage trains the projector plus LoRA adapters on the 18
blocks (attention and MLP), starting from toy-gemma's trained projector, as LLaVA's stage 2 does.

Training uses ``peft`` (extra ``realmodel``); the shipped folder stores the adapter factors
(``lora.safetensors``) and loading merges them into the 270M's weights (``W + alpha / r * B @ A``),
so the loaded model is a plain ``Gemma3ForConditionalGeneration`` and loading needs no ``peft``.

Retention: a co-trained LM that only ever sees 44 caption tokens could forget language, and then its
concept vectors mean little. Each step adds the KL divergence from the frozen 270M to the co-trained
LM on text the frozen 270M sampled itself (from ``<bos>``, fixed at the stage's start), over the
frozen model's top-k next tokens plus one bin for the rest of the 262k vocabulary (the exact KL of
that coarsened distribution: a lower bound on the full KL that still sees mass moving off the top-k).
The drift is reported with the full-vocabulary KL on held-out samples and the concept vectors'
cosine to the frozen LM's, layer by layer.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from ..errors import UserError
from ..models.reference_vlm import LORA_FILE, merge_lora as merge  # noqa: F401  (loading is the models' job)

TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def target_regex(blocks: list[int]) -> str:
    """peft's ``target_modules`` regex for the attention and MLP projections of ``blocks`` (0-based)."""
    return (r"^model\.language_model\.layers\.(" + "|".join(map(str, blocks)) + r")\.("
            + "|".join(t.replace(".", r"\.") for t in TARGETS) + r")$")


def blocks_of(spec: str, n_layers: int) -> list[int]:
    """``all``, ``first-K`` or ``last-K`` -> 0-based block indices (block i makes hidden_states[i + 1])."""
    if spec == "all":
        return list(range(n_layers))
    m = re.fullmatch(r"(first|last)-(\d+)", spec)
    if not m or not 1 <= int(m[2]) <= n_layers:
        raise UserError(f"LoRA blocks {spec!r}: use all, first-K or last-K with 1 <= K <= {n_layers}")
    k = int(m[2])
    return list(range(k)) if m[1] == "first" else list(range(n_layers - k, n_layers))


def inject(model, *, rank: int, alpha: float, blocks: list[int]) -> list[torch.nn.Parameter]:
    """Put LoRA adapters (B = 0: the model is unchanged until trained) into ``model`` in place; returns
    their parameters. Uses the global torch generator for A's init (the caller seeds it)."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise UserError("training toy-gemma-cotrained needs peft: pip install 'layerdream[realmodel]'") from None
    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, bias="none", target_modules=target_regex(blocks))
    inject_adapter_in_model(cfg, model)
    params = [p for n, p in model.named_parameters() if ".lora_" in n]
    if len(params) != 2 * len(TARGETS) * len(blocks):
        raise RuntimeError(f"LoRA injection made {len(params)} parameters, expected {2 * len(TARGETS) * len(blocks)}")
    return params


def lora_state(model) -> dict[str, torch.Tensor]:
    """The adapter factors as shipped: ``<module>.lora_A`` (r x in) and ``<module>.lora_B`` (out x r),
    ``<module>`` as in the merged model's state dict (``model.language_model.layers.3.mlp.up_proj``)."""
    out = {}
    for n, p in model.named_parameters():
        m = re.fullmatch(r"(.+)\.(lora_[AB])\.default\.weight", n)
        if m:
            out[f"{m[1]}.{m[2]}"] = p.detach().float().clone().contiguous()
    return out


# -- text retention and drift ----------------------------------------------------------------------
def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    h = model.model.language_model(input_ids=ids, use_cache=False).last_hidden_state
    return model.lm_head(h).float()  # tied to the embedding; the 270M has no final soft-capping


class Retention:
    """Text rows sampled once by the frozen 270M, with the frozen model's next-token distributions.

    ``n_train`` rows feed the retention loss (``rows_per_step`` per step), ``n_eval`` held-out rows measure
    the drift. Built from the model *before* any adapter is trained (B = 0 or not yet injected)."""

    def __init__(self, model, tok, *, n_train: int = 48, n_eval: int = 8, length: int = 32, top_k: int = 32,
                 seed: int = 1234, bf16: bool = False):
        self.top_k, self.bf16 = top_k, bf16
        with torch.random.fork_rng(), torch.no_grad(), self._autocast(model):
            torch.manual_seed(seed)
            start = torch.full((n_train + n_eval, 1), tok.bos_token_id)
            rows = model.generate(input_ids=start, attention_mask=torch.ones_like(start), do_sample=True, top_k=0,
                                  top_p=1.0, temperature=1.0, max_new_tokens=length, min_new_tokens=length,
                                  pad_token_id=tok.pad_token_id, use_cache=True)
        self.train_ids, self.eval_ids = rows[:n_train], rows[n_train:]
        lp = self._teacher(model, self.train_ids)
        top = lp.topk(top_k, dim=-1)
        self.top_idx, self.top_lp = top.indices, top.values
        self.rest_lp = torch.log1p(-top.values.exp().sum(-1).clamp(max=1 - 1e-6))
        self.eval_lp = self._teacher(model, self.eval_ids)  # full distributions, for the drift

    def _autocast(self, model):
        return torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _teacher(self, model, ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self._autocast(model):
            return torch.cat([F.log_softmax(_logits(model, ids[i:i + 4])[:, :-1], -1) for i in range(0, len(ids), 4)])

    def loss(self, model, rows: torch.Tensor) -> torch.Tensor:
        """Coarsened KL(frozen || co-trained) on the training rows ``rows`` (indices into the pool)."""
        lq = F.log_softmax(_logits(model, self.train_ids[rows])[:, :-1], -1)
        q_top = lq.gather(-1, self.top_idx[rows])
        q_rest = torch.log1p(-q_top.exp().sum(-1).clamp(max=1 - 1e-6))
        p_top, p_rest = self.top_lp[rows], self.rest_lp[rows]
        kl = (p_top.exp() * (p_top - q_top)).sum(-1) + p_rest.exp() * (p_rest - q_rest)
        return kl.mean()

    @torch.no_grad()
    def drift(self, model) -> dict:
        """Full-vocabulary KL(frozen || now) per token on the held-out rows, and both perplexities there."""
        lq = self._teacher(model, self.eval_ids)
        tgt = self.eval_ids[:, 1:].unsqueeze(-1)
        kl = (self.eval_lp.exp() * (self.eval_lp - lq)).sum(-1)
        nll = lambda lp: float(-lp.gather(-1, tgt).mean())  # noqa: E731
        return {"kl_per_token": round(float(kl.mean()), 5), "kl_per_token_max_row": round(float(kl.mean(1).max()), 5),
                "perplexity_frozen": round(float(torch.tensor(nll(self.eval_lp)).exp()), 3),
                "perplexity_now": round(float(torch.tensor(nll(lq)).exp()), 3),
                "n_rows": len(self.eval_ids), "tokens_per_row": self.eval_ids.shape[1] - 1}


def concept_drift(frozen_vectors: dict[int, torch.Tensor], vectors: dict[int, torch.Tensor]) -> dict:
    """Per layer: mean and minimum cosine between each concept's vector in the frozen and the co-trained LM."""
    out = {}
    for layer, v0 in frozen_vectors.items():
        cos = F.cosine_similarity(v0.float(), vectors[layer].float(), dim=-1)
        out[str(layer)] = {"mean": round(float(cos.mean()), 4), "min": round(float(cos.min()), 4)}
    return out
