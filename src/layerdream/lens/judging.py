"""Grading readouts of real images with an LLM judge, LatentLens's protocol.

For one readout (an image token at a layer, read by one lens): the image, enlarged, with the token's
patch marked by a red box, beside a crop of the patch; the k candidates; the question "is any of these
related to what the box shows?"; a JSON answer ``{"interpretable", "concrete_words", "abstract_words",
"global_words", "reasoning"}``. The readout is interpretable when the judge says so (pass@k).

Any OpenAI-compatible endpoint answers (``evaluation.chat.ChatClient``: bounded concurrency, counted
retries on 429/5xx/timeouts and on replies that are not the JSON asked for), or a local transformers
VLM (``evaluation.hf_judge.HFJudge``, greedy: asked once, an answer without the JSON is a recorded
failure, since asking again would give the same reply). Answers go through the
verdict cache (``evaluation.cache.VerdictCache``), keyed by the marked image's hash, the candidates, the
judge, the prompt version and the prompt, so a rerun pays for nothing it has asked before; a failed
query is recorded with its error, never counted as "no", and asked again next time.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

import torch

PROMPT_VERSION = "lens-v1"
PROTOCOL = "lens"
VIEW = 448  # the enlarged image's side in pixels

PROMPT = """The image on the left has a red box around one patch; the image on the right is that patch enlarged.
A vision-language model's internal representation of this patch was read out as these candidate words:
{candidates}
Is at least one candidate related to what the patch shows: an object or a part of it, a colour, a texture or material, or the scene around it?
Answer with JSON only, exactly these keys:
{{"interpretable": true or false, "concrete_words": [candidates naming something visible in the patch], "abstract_words": [candidates related in meaning but not visible], "global_words": [candidates that describe the whole image rather than the patch], "reasoning": "one short sentence"}}"""


@dataclass
class Readout:
    """One readout to judge: which image (tensor in [0,1]), where, which lens, and its candidates."""

    image_id: str
    image: torch.Tensor
    layer: int
    token: int
    row: int
    col: int
    lens: str
    candidates: list[str]


def marked_png(image: torch.Tensor, row: int, col: int, grid: tuple[int, int]) -> bytes:
    """The image at VIEW px with the patch boxed in red, beside the patch enlarged (PNG bytes)."""
    import numpy as np
    from PIL import Image, ImageDraw

    arr = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    big = Image.fromarray(arr).convert("RGB").resize((VIEW, VIEW), Image.NEAREST)
    h, w = VIEW / grid[0], VIEW / grid[1]
    box = (int(col * w), int(row * h), int((col + 1) * w) - 1, int((row + 1) * h) - 1)
    crop = big.crop(box).resize((VIEW, VIEW), Image.NEAREST)
    draw = ImageDraw.Draw(big)
    draw.rectangle(box, outline=(255, 0, 0), width=max(2, VIEW // 150))
    sheet = Image.new("RGB", (2 * VIEW + 8, VIEW), (255, 255, 255))
    sheet.paste(big, (0, 0))
    sheet.paste(crop, (VIEW + 8, 0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def prompt(candidates: Sequence[str]) -> str:
    return PROMPT.format(candidates="\n".join(f"{i + 1}. {c}" for i, c in enumerate(candidates)))


_JSON = re.compile(r"\{.*\}", re.DOTALL)


def parse(text: str | None) -> dict[str, Any] | None:
    """The judge's JSON object (the first {...} in the reply, code fences allowed), or None."""
    if not text:
        return None
    found = _JSON.search(text)
    if not found:
        return None
    try:
        obj = json.loads(found.group(0))
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("interpretable"), bool):
        return None
    return obj


def _needs_json(text: str) -> str | None:
    return None if parse(text) is not None else f"no JSON with a boolean 'interpretable' in {text[:80]!r}"


def judge_id(client: Any) -> str:
    """``openai:MODEL@URL`` for an OpenAI-compatible client, the local judge's own id (``hf:MODEL``) else."""
    from ..evaluation.chat import public_url

    if hasattr(client, "complete"):
        return f"openai:{client.model}@{public_url(client.base_url)}"
    return str(client.id)


def _ask_local(judge: Any, pngs: Sequence[bytes], texts: Sequence[str], todo: Sequence[int], progress: bool) -> list[Any]:
    """A local VLM judge (``ask(PIL image, prompt) -> Answer``) on each marked image, in order."""
    from PIL import Image

    from ..progress import bar

    out = []
    pbar = bar(len(todo), "lens judge", unit="q", enabled=progress)
    try:
        for i in todo:
            with Image.open(io.BytesIO(pngs[i])) as img:
                out.append(judge.ask(img.convert("RGB"), texts[i]))
            pbar.update(1)
    finally:
        pbar.close()
    return out


def judge_readouts(client: Any, readouts: Sequence[Readout], grid: tuple[int, int], cache_path: str | None = None,
                   progress: bool = True) -> list[dict[str, Any]]:
    """One row per readout: its identity, the candidates, ``interpretable`` (1/0, None on failure),
    the judge's word lists and reasoning, ``error``, ``cached``. ``client``: a ``ChatClient`` or a local
    judge with ``id`` and ``ask`` (``HFJudge``)."""
    import base64

    from ..evaluation.cache import VerdictCache
    from ..evaluation.types import Answer

    jid = judge_id(client)
    pngs = [marked_png(r.image, r.row, r.col, grid) for r in readouts]
    texts = [prompt(r.candidates) for r in readouts]
    keys = [(hashlib.sha256(png).hexdigest(), "|".join(r.candidates), jid, PROMPT_VERSION, PROTOCOL, 0, text)
            for png, r, text in zip(pngs, readouts, texts)]
    cache = VerdictCache(cache_path) if cache_path else None
    try:
        hits = cache.get_answers(keys) if cache is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in hits]
        if hasattr(client, "complete"):
            messages = [[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(pngs[i]).decode()}},
                {"type": "text", "text": texts[i]}]}] for i in todo]
            fresh = client.complete(messages, progress, accept=_needs_json)
        else:
            fresh = _ask_local(client, pngs, texts, todo, progress)
        answers = {i: Answer(text=res.text, error=res.error or (None if parse(res.text) else "unparsable answer"),
                             retries=res.retries) for i, res in zip(todo, fresh)}
        if cache is not None:
            cache.put_answers((keys[i], a) for i, a in answers.items())
    finally:
        if cache is not None:
            cache.close()
    rows = []
    for i, r in enumerate(readouts):
        a = answers.get(i) or hits[keys[i]]
        obj = parse(a.text) if a.error is None else None
        rows.append({"image": r.image_id, "layer": r.layer, "token": r.token, "row": r.row, "col": r.col, "lens": r.lens,
                     "candidates": " | ".join(r.candidates),
                     "interpretable": None if obj is None else int(obj["interpretable"]),
                     "concrete_words": "" if obj is None else "; ".join(map(str, obj.get("concrete_words") or [])),
                     "abstract_words": "" if obj is None else "; ".join(map(str, obj.get("abstract_words") or [])),
                     "global_words": "" if obj is None else "; ".join(map(str, obj.get("global_words") or [])),
                     "reasoning": "" if obj is None else str(obj.get("reasoning", ""))[:300],
                     "error": a.error or ("" if obj is not None else "unparsable answer"),
                     "judge": jid, "prompt_version": PROMPT_VERSION, "cached": i not in answers})
    return rows


def judged_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Judge's interpretable rate per (lens, layer), Wilson 95 % over the scored readouts; failures counted apart."""
    from ..evaluation.stats import wilson_interval

    out = []
    for lens, layer in sorted({(r["lens"], r["layer"]) for r in rows}):
        sel = [r for r in rows if r["lens"] == lens and r["layer"] == layer]
        scored = [r["interpretable"] for r in sel if r["interpretable"] is not None]
        k, n = sum(scored), len(scored)
        lo, hi = wilson_interval(k, n) if n else (None, None)
        out.append({"lens": lens, "layer": layer, "n": n, "k": k, "rate": k / n if n else None, "ci_lo": lo, "ci_hi": hi,
                    "errors": len(sel) - n})
    return out


def sample_readouts(rows: Sequence[dict[str, Any]], images: dict[str, torch.Tensor], per_cell: int, seed: int = 0) -> list[Readout]:
    """At most ``per_cell`` readouts per (lens, layer), a seeded sample of the lens run's image tokens.

    Each cell has its own seeded order and takes its first ``per_cell``: a smaller sample is part of a
    larger one, so the readouts humans grade (``--human-sample``) are among the LLM judge's
    (``--judge-sample``) whenever they are not more, and the two can be compared item by item."""
    import random

    by: dict[tuple, dict[tuple, list[dict[str, Any]]]] = {}
    for r in rows:
        by.setdefault((r["lens"], r["layer"]), {}).setdefault((r["image"], r["token"]), []).append(r)
    out = []
    for cell in sorted(by):
        tokens = sorted(by[cell])
        random.Random(f"{seed}|{cell[0]}|{cell[1]}").shuffle(tokens)
        for key in sorted(tokens[:per_cell]):
            cands = sorted(by[cell][key], key=lambda r: r["rank"])
            first = cands[0]
            out.append(Readout(first["image"], images[first["image"]], first["layer"], first["token"], first["row"],
                               first["col"], first["lens"], [c["candidate"] for c in cands]))
    return out
