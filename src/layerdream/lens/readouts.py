"""The two vocabulary lenses: what token does an image token's layer-ℓ state look like?

* **embedding lens**: the rows of the input embedding matrix nearest (cosine) to the state. It asks
  whether the state sits where the model's own word embeddings sit, with no later computation.
* **logit lens**: the model's final norm and unembedding applied to the state (``lm_head(norm(h))``),
  top-k. It asks which next token the model would predict if the forward stopped at layer ℓ.

Both are exact: no approximation, one matmul against the vocabulary per chunk of states. Special
tokens (``<pad>``, ``<image_soft_token>``, ...) are never candidates: they are not words a reader or a
grader could relate to an image, and in the toy models the image placeholder would otherwise top the
embedding lens of every image token. The final logit soft-capping some families apply (Gemma 2) is
monotone and leaves the ranking unchanged, so it is not applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UserError

LENSES = ("embedding", "logit", "contextual")


@dataclass
class TopK:
    """Top-k readout of a set of states: (n, k) token ids and scores (cosine or logit)."""

    ids: torch.Tensor
    scores: torch.Tensor


def final_norm(vlm: Any) -> torch.nn.Module:
    """The language model's final norm (the module ``lm_head`` reads after), found on the decoder."""
    decoder = vlm.model.get_decoder()
    for name in ("norm", "final_layernorm", "final_layer_norm", "ln_f"):
        module = getattr(decoder, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise UserError(f"{vlm.name}: cannot find the language model's final norm, so the logit lens is unavailable; "
                    "use --lens embedding,contextual")


def unembedding(vlm: Any) -> torch.nn.Module:
    head = vlm.model.get_output_embeddings()
    if head is None:
        raise UserError(f"{vlm.name} has no output embedding (lm_head), so the logit lens is unavailable; "
                        "use --lens embedding,contextual")
    return head


def excluded_ids(vlm: Any) -> torch.Tensor:
    """Token ids that are never candidates: the tokenizer's special tokens and ids past its vocabulary."""
    tok = vlm.tokenizer
    special = set(getattr(tok, "all_special_ids", []) or [])
    for added_id, added in (getattr(tok, "added_tokens_decoder", None) or {}).items():
        if getattr(added, "special", False):
            special.add(int(added_id))
    return torch.tensor(sorted(special), dtype=torch.long)


def _mask_excluded(scores: torch.Tensor, excluded: torch.Tensor, vocab: int) -> torch.Tensor:
    """``excluded`` and ``vocab`` relative to the first column of ``scores`` (a vocabulary chunk)."""
    inside = excluded[(excluded >= 0) & (excluded < scores.shape[1])]
    if inside.numel():
        scores[:, inside] = float("-inf")
    vocab = max(vocab, 0)
    if scores.shape[1] > vocab:  # padded vocabularies: rows past the tokenizer are no tokens
        scores[:, vocab:] = float("-inf")
    return scores


def _vocab_size(vlm: Any) -> int:
    return len(vlm.tokenizer)


def embedding_lens(vlm: Any, states: torch.Tensor, k: int = 5, chunk: int = 4096) -> TopK:
    """Top-k rows of ``embed_tokens.weight`` by cosine to each state; states (n, d) -> TopK (n, k)."""
    weight = vlm.model.get_input_embeddings().weight.detach()
    excluded = excluded_ids(vlm)
    vocab = _vocab_size(vlm)
    ids, scores = [], []
    q = F.normalize(states.float(), dim=-1)
    for start in range(0, q.shape[0], chunk):
        block = q[start:start + chunk].to(weight.device)
        best_s = best_i = None
        for row in range(0, weight.shape[0], 65536):  # a 262k x 2560 vocabulary is never converted whole
            w = F.normalize(weight[row:row + 65536].float(), dim=-1)
            s = _mask_excluded(block @ w.T, excluded - row, vocab - row)
            s, i = s.topk(min(k, s.shape[1]), dim=1)
            i = i + row
            if best_s is None:
                best_s, best_i = s, i
            else:
                cat_s, cat_i = torch.cat([best_s, s], 1), torch.cat([best_i, i], 1)
                best_s, pick = cat_s.topk(min(k, cat_s.shape[1]), dim=1)
                best_i = cat_i.gather(1, pick)
        ids.append(best_i.cpu())
        scores.append(best_s.cpu())
    return TopK(torch.cat(ids), torch.cat(scores))


def logit_lens(vlm: Any, states: torch.Tensor, k: int = 5, chunk: int = 512) -> TopK:
    """Top-k of ``lm_head(norm(h))`` for each state; states (n, d) -> TopK (n, k) of token ids and logits."""
    norm, head = final_norm(vlm), unembedding(vlm)
    excluded = excluded_ids(vlm)
    vocab = _vocab_size(vlm)
    ids, scores = [], []
    with torch.no_grad():
        for start in range(0, states.shape[0], chunk):
            h = states[start:start + chunk].to(vlm.device, vlm.dtype)
            logits = _mask_excluded(head(norm(h)).float(), excluded, vocab)
            s, i = logits.topk(k, dim=1)
            ids.append(i.cpu())
            scores.append(s.cpu())
    return TopK(torch.cat(ids), torch.cat(scores))


def token_text(vlm: Any, ids: torch.Tensor) -> list[str]:
    """Readable text of each token id (decoded alone, surrounding whitespace stripped)."""
    cache: dict[int, str] = vlm.cache.setdefault(("lens-token-text",), {})
    out = []
    for i in ids.flatten().tolist():
        if i not in cache:
            cache[i] = vlm.tokenizer.decode([i]).strip()
        out.append(cache[i])
    return out
