"""The contextual index: token states of a text corpus at several layers of the same language model,
searched exactly for the nearest neighbours (cosine) of an image token's state (LatentLens).

Built once per (language model, corpus, text layers, prompt format, cap) and cached on disk under a
fingerprint of all of them (``$LAYERDREAM_CACHE/lens/<fingerprint>/``, default ``~/.cache/layerdream``):

* the build runs the corpus through the LM in chunks of sentences, one forward per batch giving every
  text layer (early exit at the deepest), and writes each chunk atomically, so an interrupted build
  resumes at the first missing chunk and never mixes a half-written one in;
* once complete it is consolidated into one fp16 safetensors file per layer (unit rows) plus one file
  of entries (token id, sentence, character span), read back memory-mapped (``store.py``);
* the search is exact: blocks of rows, one torch matmul each, a running top-k merged across blocks
  and across layers (no ANN: exact search over the shipped corpus takes milliseconds; see
  benchmarks/lens.py).

The fingerprint covers the language model only (its parameters, sampled, and the tokenizer), not the
vision tower: toy-gemma and toy-gemma-aligned share the frozen Gemma 3 270M and so share an index.
At most ``cap`` contexts are kept per token id (LatentLens: 50), so frequent tokens ("the", ",") do not
crowd the index; the first occurrences in corpus order are kept, so a resumed build is identical.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from . import store
from .corpus import Corpus

FORMAT = 1
CHUNK_SENTENCES = 64
BATCH = 16


def default_text_layers(num_layers: int) -> list[int]:
    """LatentLens's text layers {1, 2, 4, 8, 16, 24, N-2, N-1} within 1..N (all four of a 4-layer toy)."""
    wanted = {1, 2, 4, 8, 16, 24, num_layers - 2, num_layers - 1}
    return sorted(layer for layer in wanted if 1 <= layer <= num_layers)


def cache_root() -> Path:
    return Path(os.environ.get("LAYERDREAM_CACHE", Path.home() / ".cache" / "layerdream")) / "lens"


def model_fingerprint(vlm: Any) -> str:
    """Hash of the language model (every parameter's name, shape, dtype and a strided sample of its
    values) and of the tokenizer's vocabulary: a retrained or different LM never reuses an index."""
    key = ("lens-model-fingerprint",)
    if key in vlm.cache:
        return vlm.cache[key]
    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in vlm.model.get_decoder().named_parameters():
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // 1024)
            h.update(f"{name}:{tuple(p.shape)}:{p.dtype}".encode())
            h.update(flat[::step][:1024].float().cpu().numpy().tobytes())
    vocab = vlm.tokenizer.get_vocab()
    h.update(json.dumps(sorted(vocab.items(), key=lambda kv: kv[1])).encode())
    vlm.cache[key] = h.hexdigest()[:16]
    return vlm.cache[key]


def fingerprint(vlm: Any, corpus: Corpus, layers: Sequence[int], prompt_format: str, cap: int) -> str:
    blob = json.dumps({"format": FORMAT, "model": model_fingerprint(vlm), "corpus": corpus.digest,
                       "layers": sorted(set(layers)), "prompt_format": prompt_format, "cap": cap}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class Neighbours:
    """Top-k of a search: (n, k) cosine scores, entry ids and the text layer each neighbour comes from."""

    scores: torch.Tensor
    entries: torch.Tensor
    layers: torch.Tensor


def encode_sentence(vlm: Any, sentence: str, prompt_format: str) -> tuple[list[int], list[int], list[tuple[int, int]]] | None:
    """(input ids, positions of the sentence's tokens, their character spans in the sentence), or None
    when the tokenizer cannot read it (an ``<unk>``: a toy LM's 90 words do not cover English prose)."""
    from ..concepts import encode_in_prompt

    _, start, end, ids, offsets, positions = encode_in_prompt(vlm, sentence, prompt_format)
    unk = vlm.tokenizer.unk_token_id
    if not positions or (unk is not None and any(ids[p] == unk for p in positions)):
        return None
    spans = [(max(offsets[p][0], start) - start, min(offsets[p][1], end) - start) for p in positions]
    return ids, positions, spans


class ContextualIndex:
    """A complete index, memory-mapped. Build or open it with :func:`build_index`."""

    def __init__(self, folder: Path):
        self.folder = folder
        try:
            self.manifest = json.loads((folder / "manifest.json").read_text())
            self.layers: list[int] = list(self.manifest["layers"])
            self.sentences = (folder / "corpus.txt").read_text(encoding="utf-8").split("\n")
            entries, _ = store.open_mmap(folder / "entries.safetensors")
            self.keys = {layer: store.open_mmap(folder / f"layer_{layer}.safetensors")[0]["keys"] for layer in self.layers}
        except (OSError, ValueError, KeyError, store.CorruptFile) as err:
            raise UserError(f"the contextual index cache {str(folder)!r} is corrupt ({type(err).__name__}: {err}); "
                            "delete that folder or pass --rebuild-index") from None
        self.token, self.sentence = entries["token"], entries["sentence"]
        self.start, self.end = entries["start"], entries["end"]
        sizes = {int(k.shape[0]) for k in self.keys.values()} | {int(self.token.shape[0])}
        if len(sizes) != 1 or len(self.sentences) != self.manifest["n_sentences"]:
            raise UserError(f"the contextual index cache {str(folder)!r} is corrupt (its files disagree on the number "
                            "of entries); delete that folder or pass --rebuild-index")

    def __len__(self) -> int:
        return int(self.token.shape[0])

    def search(self, queries: torch.Tensor, k: int = 5, layers: Sequence[int] | None = None,
               block: int = 65536) -> Neighbours:
        """Exact top-k by cosine over the rows of the given text layers (default all), merged across
        layers; queries (n, d) of any scale. Ties keep the earlier layer and row."""
        layers = list(self.layers if layers is None else layers)
        q = F.normalize(queries.float(), dim=-1)
        n = q.shape[0]
        best_s = torch.full((n, 0), float("-inf"))
        best_e = torch.zeros((n, 0), dtype=torch.long)
        best_l = torch.zeros((n, 0), dtype=torch.long)
        for layer in layers:
            keys = self.keys[layer]
            for start in range(0, keys.shape[0], block):
                s = q @ keys[start:start + block].float().T
                s, i = s.topk(min(k, s.shape[1]), dim=1)
                cat_s = torch.cat([best_s, s], 1)
                cat_e = torch.cat([best_e, i + start], 1)
                cat_l = torch.cat([best_l, torch.full_like(i, layer)], 1)
                best_s, pick = cat_s.topk(min(k, cat_s.shape[1]), dim=1)
                best_e, best_l = cat_e.gather(1, pick), cat_l.gather(1, pick)
        return Neighbours(best_s, best_e, best_l)

    def word(self, entry: int) -> str:
        """The whole word (whitespace-delimited, punctuation stripped) that contains the entry's token."""
        text = self.sentences[int(self.sentence[entry])]
        a, b = int(self.start[entry]), int(self.end[entry])
        while a < b and text[a].isspace():  # SentencePiece spans start at the space before the word ("▁red")
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        while a > 0 and not text[a - 1].isspace():
            a -= 1
        while b < len(text) and not text[b].isspace():
            b += 1
        return text[a:b].strip(".,;:!?\"'()[]{}") or text[a:b]

    def token_text(self, entry: int) -> str:
        text = self.sentences[int(self.sentence[entry])]
        return text[int(self.start[entry]):int(self.end[entry])].strip()

    def context(self, entry: int) -> str:
        return self.sentences[int(self.sentence[entry])]


def build_index(vlm: Any, corpus: Corpus, layers: Sequence[int] | None = None, *, prompt_format: str = "chat",
                cap: int = 50, cache_dir: str | os.PathLike[str] | None = None, rebuild: bool = False,
                progress: bool = True, chunk_sentences: int = CHUNK_SENTENCES) -> ContextualIndex:
    """The index of ``corpus`` at ``layers`` (default :func:`default_text_layers`), from the cache when
    it holds a complete one, else built (resuming an interrupted build)."""
    from ..progress import bar

    layers = sorted(set(default_text_layers(vlm.num_layers) if layers is None else layers))
    for layer in layers:
        vlm.check_layer(layer)
    if cap < 1:
        raise UserError(f"--max-contexts must be at least 1, got {cap}")
    prompt_format = vlm.resolve_prompt_format(prompt_format)
    fp = fingerprint(vlm, corpus, layers, prompt_format, cap)
    folder = Path(cache_dir) if cache_dir is not None else cache_root()
    folder = folder / fp
    if rebuild and folder.exists():
        shutil.rmtree(folder)
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as err:
            raise UserError(f"the contextual index cache {str(folder)!r} is corrupt (manifest.json: {err}); "
                            "delete that folder or pass --rebuild-index") from None
        if manifest.get("complete"):
            return ContextualIndex(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the index cache {str(folder)!r} ({err.strerror}); set LAYERDREAM_CACHE "
                        "or --index-dir to a writable folder") from None
    manifest = {"format": FORMAT, "fingerprint": fp, "model": vlm.name, "model_fingerprint": model_fingerprint(vlm),
                "corpus": corpus.name, "corpus_digest": corpus.digest, "n_sentences": len(corpus), "layers": layers,
                "prompt_format": prompt_format, "cap": cap, "chunk_sentences": chunk_sentences,
                "hidden_size": vlm.hidden_size, "complete": False}
    (folder / "corpus.txt").write_text("\n".join(corpus.sentences), encoding="utf-8")
    manifest_path.write_text(json.dumps(manifest, indent=1))
    n_chunks = (len(corpus) + chunk_sentences - 1) // chunk_sentences
    counts: dict[int, int] = {}
    done = 0
    for c in range(n_chunks):  # resume: every chunk already on disk is read back for the cap's counts
        path = folder / f"chunk_{c:06d}.safetensors"
        if not path.is_file():
            break
        try:
            tokens = store.open_mmap(path)[0]["token"]
        except (store.CorruptFile, KeyError):
            path.unlink()
            break
        for t in tokens.tolist():
            counts[t] = counts.get(t, 0) + 1
        done = c + 1
    pbar = bar(len(corpus), "contextual index", unit="sent", enabled=progress, initial=min(done * chunk_sentences, len(corpus)))
    try:
        for c in range(done, n_chunks):
            sentences = corpus.sentences[c * chunk_sentences:(c + 1) * chunk_sentences]
            chunk = _chunk_states(vlm, sentences, c * chunk_sentences, layers, prompt_format, cap, counts)
            store.write_tensors(folder / f"chunk_{c:06d}.safetensors", chunk)
            pbar.update(len(sentences))
    finally:
        pbar.close()
    _consolidate(folder, n_chunks, layers, vlm.hidden_size)
    manifest.update(complete=True, entries=int(store.open_mmap(folder / "entries.safetensors")[0]["token"].shape[0]))
    tmp = folder / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)
    for c in range(n_chunks):
        (folder / f"chunk_{c:06d}.safetensors").unlink(missing_ok=True)
    return ContextualIndex(folder)


def _chunk_states(vlm: Any, sentences: Sequence[str], first: int, layers: list[int], prompt_format: str,
                  cap: int, counts: dict[int, int]) -> dict[str, torch.Tensor]:
    """Unit-normalised fp16 states of the kept tokens of ``sentences`` at every layer, and their entries."""
    keep: list[tuple[int, int, int, int, int]] = []  # (row in encoded, position, token, start, end) + sentence below
    encoded = []
    for j, sentence in enumerate(sentences):
        enc = encode_sentence(vlm, sentence, prompt_format)
        if enc is None:
            continue
        ids, positions, spans = enc
        row = len(encoded)
        encoded.append((first + j, ids))
        for p, (a, b) in zip(positions, spans):
            if counts.get(ids[p], 0) < cap:
                counts[ids[p]] = counts.get(ids[p], 0) + 1
                keep.append((row, p, ids[p], a, b))
    states = {layer: [] for layer in layers}
    for start in range(0, len(encoded), BATCH):
        batch = encoded[start:start + BATCH]
        rows = [(r - start, p) for r, p, *_ in keep if start <= r < start + BATCH]
        if not rows:
            continue
        length = max(len(ids) for _, ids in batch)
        pad = vlm.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(batch), length), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), length), dtype=torch.long)
        for i, (_, ids) in enumerate(batch):
            input_ids[i, :len(ids)] = torch.tensor(ids)
            attention[i, :len(ids)] = 1
        inputs = vlm.adapter.text_inputs(input_ids.to(vlm.device), attention.to(vlm.device))
        with torch.no_grad():
            hidden = vlm.residuals(layers, **inputs)
        bi = torch.tensor([b for b, _ in rows])
        pi = torch.tensor([p for _, p in rows])
        for layer in layers:
            states[layer].append(F.normalize(hidden[layer][bi, pi].float(), dim=-1).cpu().half())
    d = vlm.hidden_size
    out = {f"L{layer}": torch.cat(parts) if parts else torch.zeros((0, d), dtype=torch.float16) for layer, parts in states.items()}
    out["token"] = torch.tensor([t for *_, t, _, _ in keep], dtype=torch.long)
    out["sentence"] = torch.tensor([encoded[r][0] for r, *_ in keep], dtype=torch.long)
    out["start"] = torch.tensor([a for *_, a, _ in keep], dtype=torch.long)
    out["end"] = torch.tensor([b for *_, b in keep], dtype=torch.long)
    return out


def _consolidate(folder: Path, n_chunks: int, layers: list[int], d: int) -> None:
    """One file per layer (keys (M, d) fp16) and one of entries, streamed from the chunk files."""
    chunks = [folder / f"chunk_{c:06d}.safetensors" for c in range(n_chunks)]
    sizes = [int(store.open_mmap(p)[0]["token"].shape[0]) for p in chunks]
    total = sum(sizes)
    if total == 0:
        raise UserError("no sentence of the corpus could be read by this model's tokenizer (every one has an unknown "
                        "token); give a corpus in the model's vocabulary (--corpus FILE)")
    def blocks(name: str):  # a function, not a bare generator expression: each keeps its own name
        for p in chunks:
            yield store.open_mmap(p)[0][name].numpy()

    for layer in layers:
        store.write(folder / f"layer_{layer}.safetensors", {"keys": ((total, d), np.float16, blocks(f"L{layer}"))},
                    {"layer": str(layer)})
    entries = {name: ((total,), np.int64, blocks(name)) for name in ("token", "sentence", "start", "end")}
    store.write(folder / "entries.safetensors", entries)
