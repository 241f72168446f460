"""Step 1 of the method: concept vectors.

v̂_ℓ(c) = normalise( a_ℓ(c) − μ_ℓ ), where a_ℓ(w) is the layer-ℓ residual (the output of decoder block ℓ,
read like the image tokens: before the final norm at the last layer, see ``models/vlm.py``) averaged over the tokens
that cover the characters of ``w`` (template tokens excluded), and μ_ℓ is the mean of a_ℓ over a list of
unrelated baseline words: the paper's 100 words (Appendix C) by default, or the list a model folder
ships in ``baseline_words.txt`` (the toy models do: the paper's words are not in their vocabulary).
Baselines are computed once per (model, layer, prompt format, word list) and cached on the handle.
"""
from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Sequence, Union

import torch

from . import checks
from .errors import UserError
from .io import is_blank
from .models.vlm import VLM, require_vlm

PROMPT_FORMATS = ("chat", "raw")
Baseline = Union[None, str, os.PathLike, Sequence[str]]


def paper_baseline_words() -> list[str]:
    """The paper's 100 baseline words (98 unique: the paper lists two words twice; kept as published)."""
    text = resources.files("layerdream").joinpath("data/baseline_words.txt").read_text()
    return [w.strip() for w in text.splitlines() if w.strip()]


def baseline_words(vlm: VLM, baseline: Baseline = None) -> list[str]:
    """Resolve the baseline: None -> the model folder's list if it ships one, else the paper's."""
    if baseline is None:
        shipped = Path(vlm.path) / "baseline_words.txt" if vlm.path else None
        baseline = shipped if shipped is not None and shipped.exists() else "paper"
    return read_baseline_words(baseline)


def read_baseline_words(baseline: Baseline, what: str = "baseline word file") -> list[str]:
    """The words of ``"paper"``, a word file or a list (no model needed: a bad file is refused before one loads);
    ``what`` names the file in messages (the CLI's ``--baseline``)."""
    if baseline is None or (isinstance(baseline, str) and baseline == "paper"):
        return paper_baseline_words()
    if isinstance(baseline, (str, os.PathLike)):
        try:
            words = [w.strip() for w in Path(baseline).read_text(encoding="utf-8-sig").splitlines() if w.strip()]
        except OSError as err:
            raise UserError(f"cannot read {what} {str(baseline)!r} ({err.strerror}); pass a text file with one word per line") from None
        except UnicodeDecodeError:
            raise UserError(f"{what} {str(baseline)!r} is not UTF-8 text (binary data?); "
                            "pass a text file with one word per line") from None
    else:
        words = [w.strip() for w in baseline if w.strip()]
    if not words:
        raise UserError("the baseline word list is empty; give at least a few unrelated words, one per line")
    return words


def render(vlm: VLM, text: str, prompt_format: str = "chat") -> tuple[str, int, int]:
    """The prompt string for ``text`` and the character span [start, end) of ``text`` inside it.

    The span comes from rendering the template around a sentinel, so a concept can never be matched
    against template text by accident ("user" inside "<start_of_turn>user").
    """
    if prompt_format not in PROMPT_FORMATS:
        raise UserError(f"unknown prompt format {prompt_format!r}; choose one of {', '.join(PROMPT_FORMATS)}")
    tok = vlm.tokenizer
    if vlm.resolve_prompt_format(prompt_format) == "chat":
        sentinel = "\u2063LAYERDREAM\u2063"
        shell = tok.apply_chat_template([{"role": "user", "content": sentinel}], tokenize=False, add_generation_prompt=True)
        if sentinel not in shell:  # templates that only read list content (Idefics3, LLaVA) drop a plain string
            shell = tok.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": sentinel}]}],
                                            tokenize=False, add_generation_prompt=True)
        if sentinel not in shell:
            raise UserError(f"{vlm.name}'s chat template drops the user's text; use --prompt-format raw")
        start = shell.index(sentinel)
        prefix, suffix = shell[:start], shell[start + len(sentinel):]
    else:
        prefix, suffix = (tok.bos_token or ""), ""
    return prefix + text + suffix, len(prefix), len(prefix) + len(text)


def encode_in_prompt(vlm: VLM, text: str, prompt_format: str = "chat"
                     ) -> tuple[str, int, int, list[int], list[tuple[int, int]], list[int]]:
    """``text`` in the model's prompt, tokenised: (prompt, start and end of ``text`` in it, input ids,
    character offsets, positions of the tokens covering ``text``). The one tokenisation of concept vectors and of the lens's contextual corpus.

    Tokenised the way the processor tokenises the image prompt: a prompt that does not start with BOS
    gets the tokenizer's own special tokens (LLaVA's template has no <s>; Llama's tokenizer adds it)."""
    prompt, start, end = render(vlm, text, prompt_format)
    bos = vlm.tokenizer.bos_token
    enc = vlm.tokenizer(prompt, add_special_tokens=not (bos and prompt.startswith(bos)), return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    positions = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    return prompt, start, end, ids, offsets, positions


def token_positions(vlm: VLM, text: str, prompt_format: str = "chat") -> tuple[list[int], list[int]]:
    """(input_ids, positions of the tokens covering ``text``'s characters)."""
    text = text.strip()
    if is_blank(text):
        raise UserError(f"empty concept{'' if not text else f' ({text!r} shows nothing)'}; give a word or phrase such as 'dog'")
    prompt, _, _, ids, offsets, positions = encode_in_prompt(vlm, text, prompt_format)
    unk = vlm.tokenizer.unk_token_id
    if not positions:
        raise UserError(f"concept {text!r} tokenises to nothing in {vlm.name}'s tokenizer; choose a different word")
    if unk is not None and any(ids[p] == unk for p in positions):
        # averaging <unk> into the vector would silently give another concept ("red <unk>")
        unknown = sorted({prompt[offsets[p][0]:offsets[p][1]] for p in positions if ids[p] == unk})
        raise UserError(f"concept {text!r} is not in {vlm.name}'s vocabulary ({', '.join(map(repr, unknown))} "
                        "tokenises to <unk>); choose words the model knows")
    return ids, positions


def word_states(vlm: VLM, words: Sequence[str], layer: int, prompt_format: str = "chat") -> torch.Tensor:
    """a_ℓ(w) for each word: (B, d) fp32, the mean over each word's own tokens, one padded batch."""
    vlm.check_layer(layer)
    encoded = [token_positions(vlm, w, prompt_format) for w in words]
    length = max(len(ids) for ids, _ in encoded)
    pad = vlm.tokenizer.pad_token_id or 0
    input_ids = torch.full((len(words), length), pad, dtype=torch.long)
    attention = torch.zeros((len(words), length), dtype=torch.long)
    select = torch.zeros((len(words), length), dtype=torch.float32)
    for row, (ids, positions) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        select[row, positions] = 1.0 / len(positions)
    inputs = vlm.adapter.text_inputs(input_ids.to(vlm.device), attention.to(vlm.device))
    with torch.no_grad():
        hidden = vlm.residual(layer, **inputs).float()
    return torch.einsum("bt,btd->bd", select.to(hidden.device), hidden).cpu()


def language_baseline(vlm: VLM, layer: int, prompt_format: str = "chat", baseline: Baseline = None) -> torch.Tensor:
    """μ_ℓ: mean a_ℓ over the baseline words, (d,) fp32, cached per (layer, format, word list)."""
    words = baseline_words(vlm, baseline)
    digest = hashlib.sha1("\n".join(words).encode()).hexdigest()[:12]
    key = ("baseline", layer, prompt_format, digest)
    if key not in vlm.cache:
        usable_key = ("baseline-words", prompt_format, digest)  # tokenising the list once serves every layer
        if usable_key not in vlm.cache:
            vlm.cache[usable_key] = [w for w in words if _known(vlm, w, prompt_format)]
        usable = vlm.cache[usable_key]
        if not usable:
            raise UserError(f"none of the baseline words is in {vlm.name}'s vocabulary; pass --baseline FILE with words it knows")
        vlm.cache[key] = torch.cat([word_states(vlm, usable[i:i + 64], layer, prompt_format)
                                    for i in range(0, len(usable), 64)]).mean(0)
    return vlm.cache[key]


def _known(vlm: VLM, word: str, prompt_format: str) -> bool:
    try:
        token_positions(vlm, word, prompt_format)
    except UserError:
        return False
    return True


def concept_vectors(vlm: VLM, concepts: Sequence[str], layer: int, *, prompt_format: str = "chat",
                    baseline: Baseline = None) -> torch.Tensor:
    """v̂_ℓ for each concept: (B, d) fp32 unit vectors on the CPU (one str: (1, d))."""
    require_vlm(vlm, "concept_vectors")
    concepts = checks.texts(concepts, "concepts")
    if not concepts:
        raise UserError("concept_vectors: give at least one concept, e.g. ['red', 'blue']")
    vlm.check_layer(layer)
    # one forward per concept: in a padded batch a concept's state depends (by float rounding) on its
    # neighbours' lengths, and after 80 steps that was 3/255 in the image ("blue" alone vs with "red")
    states = torch.cat([word_states(vlm, [c], layer, prompt_format) for c in concepts])
    centred = states - language_baseline(vlm, layer, prompt_format, baseline)
    norms = centred.norm(dim=-1, keepdim=True)
    if (norms < 1e-8).any():
        bad = [c for c, n in zip(concepts, norms.flatten().tolist()) if n < 1e-8]
        raise UserError(f"concept(s) {bad} equal the language baseline at layer {layer}; pick another concept or baseline")
    return centred / norms


def concept_vector(vlm: VLM, concept: str, layer: int, **kwargs) -> torch.Tensor:
    """v̂_ℓ(concept): a (d,) fp32 unit vector."""
    require_vlm(vlm, "concept_vector")
    if not isinstance(concept, str):
        raise UserError(f"concept_vector takes one concept (str), got {checks.describe(concept)}; "
                        "for several, concept_vectors(vlm, [...], layer) gives one row each")
    return concept_vectors(vlm, [concept], layer, **kwargs)[0]
