"""One lens study end to end, as ``layerdream lens`` and ``ld.lens`` run it: check every input before
the model loads, load it, build (or reuse) the contextual index, read the images, write the files.

Order matters for the user: an empty corpus, a folder without images, a RUN that is no RUN, an
unwritable ``--out`` are refused in one line before a minute of model loading; a layer beyond the
model right after loading, before the index is built.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from .run import LensOutcome, parse_lenses

RUN_DB = "sweep.sqlite"


def is_run(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / RUN_DB).is_file()


def _concepts(spec: Any) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    from ..sweep.conceptsets import load_concept_set

    cs = load_concept_set(spec) if isinstance(spec, str) else spec
    return {c.name: c.category for c in cs.concepts}, {c.name: tuple(c.synonyms) for c in cs.concepts}


def run_lens(model: Any = None, *, images: str | os.PathLike[str] | None = None, concepts: Any = "toy",
             layers: Sequence[int] | None = None, lenses: str | Sequence[str] = ("embedding", "logit", "contextual"),
             k: int = 5, tokens: int | str | None = None, n_images: int = 64, seed: int = 0,
             corpus: str | os.PathLike[str] = "concepts", corpus_limit: int | None = None,
             text_layers: Sequence[int] | None = None, max_contexts: int = 50,
             index_dir: str | os.PathLike[str] | None = None, rebuild_index: bool = False,
             out: str | os.PathLike[str] | None = None, device: str | None = None, dtype: str | None = None,
             prompt_format: str = "chat", measures: bool = True, n_perm: int = 1000, batch: int = 16,
             progress: bool = True, judge: dict[str, Any] | None = None, human_sample: int | None = None) -> LensOutcome:
    """See :func:`layerdream.api.lens`; returns the outcome with ``files`` set when ``out`` is given
    (a RUN's default ``out`` is ``RUN/lens``). ``judge``: ``{"model", "base_url", "api_key_env",
    "sample", "cache", ...}`` grades a sample of readouts with an LLM judge (``judging.py``); ``human_sample``
    writes that many readouts per lens and layer for ``layerdream annotate OUT --lens`` (``human.py``)."""
    from ..io import ensure_writable_dir
    from . import images as IM
    from .corpus import load_corpus
    from .index import build_index, default_text_layers
    from .run import read_images, save

    lenses = parse_lenses(lenses)
    for value, flag in ((k, "--top-k (k)"), (batch, "--batch"), (n_perm, "--n-perm")):
        # a str k was a TypeError, a negative n_perm a RuntimeError after every forward had run
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"{flag} must be a whole number of at least 1, got {value!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"--seed must be a whole number, got {seed!r}")
    if tokens not in (None, "all") and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1):
        raise UserError(f"--tokens must be 'all' or a positive number of image tokens per image, got {tokens!r}")
    run_dir = Path(images) if images is not None and is_run(images) else None
    # every input is read and checked here, before the model loads
    if run_dir is not None:
        data = IM.from_run(run_dir)
        if out is None:
            out = run_dir / "lens"
        if model is None:
            from ..sweep.store import Store

            model = Store.peek_settings(run_dir)["model"]
    elif images is not None:
        cats, syn = _concepts(concepts)
        IM.scan_folder(images, cats)  # every file found and checked now; read after the model loads
        data = None
    else:
        data = IM.from_toyworld(n_images, seed)
    corpus_obj = load_corpus(corpus, corpus_limit, seed) if "contextual" in lenses else None
    if human_sample is not None:
        if isinstance(human_sample, bool) or not isinstance(human_sample, int) or human_sample < 1:
            raise UserError(f"--human-sample must be a positive number of readouts per lens and layer, got {human_sample!r}")
        if out is None:
            raise UserError("--human-sample writes the images people grade into the output folder: pass out=... (--out)")
    if out is not None:
        ensure_writable_dir(out)
    client, judge_opts = _judge_client(judge, device, dtype)  # a missing key or model is one line before the model loads
    vlm = _load(model or "toy-aligned", device, dtype)
    vlm.require_vision()
    if data is None:
        data = IM.from_folder(images, cats, syn)
    layer_list = list(range(1, vlm.num_layers + 1)) if layers is None else _ints(layers, "--layer")
    for layer in layer_list:
        vlm.check_layer(layer)
    index, index_info = None, {}
    if corpus_obj is not None:
        t0 = time.perf_counter()
        text = default_text_layers(vlm.num_layers) if text_layers is None else _ints(text_layers, "--text-layer")
        index = build_index(vlm, corpus_obj, text, prompt_format=prompt_format, cap=max_contexts, cache_dir=index_dir,
                            rebuild=rebuild_index, progress=progress)
        index_info = {"index": str(index.folder), "fingerprint": index.manifest["fingerprint"], "corpus": corpus_obj.name,
                      "corpus_sentences": len(corpus_obj), "entries": len(index), "text_layers": index.layers,
                      "max_contexts_per_token": max_contexts, "index_seconds": time.perf_counter() - t0}
    outcome = read_images(vlm, data, layer_list, lenses, k=k, tokens=tokens, seed=seed, index=index, batch=batch,
                          prompt_format=prompt_format, progress=progress, measures=measures, n_perm=n_perm)
    outcome.config = {"model": vlm.name, **outcome.config, **index_info}
    images = {i: data.images[j] for j, i in enumerate(data.ids)}
    if client is not None:
        from .judging import judge_id, judge_readouts, judged_table, sample_readouts

        cache = judge_opts.get("cache") or (str(Path(out) / "lens_judge_cache.sqlite") if out is not None else None)
        readouts = sample_readouts(outcome.rows, images, judge_opts.get("sample", 20), seed)
        outcome.judged = judge_readouts(client, readouts, vlm.grid, cache, progress)
        outcome.judged_table = judged_table(outcome.judged)
        settings = client.settings() if hasattr(client, "settings") else {"model": client.id, "kind": "hf", "greedy": True,
                                                                          "max_new_tokens": client.max_new_tokens}
        outcome.config["judge"] = {**settings, "id": judge_id(client), "sample_per_lens_and_layer": judge_opts.get("sample", 20),
                                   "protocol": "LatentLens: patch boxed + crop, k candidates, JSON, pass@k"}
    if human_sample is not None:
        from .human import write_items
        from .judging import sample_readouts

        write_items(out, sample_readouts(outcome.rows, images, human_sample, seed), outcome.rows, vlm.grid)
        outcome.config["human_sample_per_lens_and_layer"] = human_sample
    if out is not None:
        save(outcome, out, title="")
    return outcome


JUDGE_CLIENT_KEYS = ("model", "base_url", "api_key_env", "concurrency", "timeout", "max_retries",
                     "max_completion_tokens", "temperature", "reasoning_effort")


HF_KEYS = ("kind", "model", "device", "dtype", "max_new_tokens")
LENS_MAX_NEW_TOKENS = 256  # the JSON answer with its word lists and a sentence of reasoning


def _judge_client(judge: dict[str, Any] | None, device: str | None = None, dtype: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The judge of ``judge``: ``kind`` "openai" (default; any OpenAI-compatible endpoint) or "hf" (a local
    transformers VLM, loaded now: a wrong folder is one line before the lens model loads)."""
    if not judge:
        return None, {}
    kind = judge.get("kind", "openai")
    if kind not in ("openai", "hf"):
        raise UserError(f"lens judge kind {kind!r}: use openai (an OpenAI-compatible endpoint) or hf (a local VLM)")
    if int(judge.get("sample", 20)) < 1:
        raise UserError(f"--judge-sample must be at least 1 readout per lens and layer, got {judge.get('sample')}")
    rest = {k: judge[k] for k in ("sample", "cache") if k in judge}
    if kind == "hf":
        unknown = sorted(set(judge) - set(HF_KEYS) - {"sample", "cache"})
        if unknown:
            raise UserError(f"unknown hf judge option(s) {unknown}; use {', '.join(HF_KEYS)}, sample, cache")
        if not judge.get("model"):
            raise UserError("--judge hf needs --judge-model (a local folder or hub id of an image-text-to-text VLM)")
        from ..evaluation.hf_judge import HFJudge

        return HFJudge(None, str(judge["model"]), device=judge.get("device") or device,  # type: ignore[arg-type]
                       dtype=judge.get("dtype") or dtype,
                       max_new_tokens=int(judge.get("max_new_tokens") or LENS_MAX_NEW_TOKENS)), rest
    from ..evaluation.chat import ChatClient

    unknown = sorted(set(judge) - set(JUDGE_CLIENT_KEYS) - {"sample", "cache", "kind"})
    if unknown:
        raise UserError(f"unknown judge option(s) {unknown}; use {', '.join(JUDGE_CLIENT_KEYS)}, sample, cache")
    if not judge.get("model"):  # ChatClient's own TypeError was a traceback
        raise UserError("--judge openai needs --judge-model (the model name, e.g. gpt-5, or what your server serves)")
    opts = {k: v for k, v in judge.items() if k in JUDGE_CLIENT_KEYS and v is not None}
    return ChatClient(role="judge", flag_prefix="--judge", **opts), rest


def _ints(values: Any, what: str) -> list[int]:
    values = [values] if isinstance(values, int) else list(values)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise UserError(f"{what} must be one or more integers, got {values!r}")
    return values


def _load(model: Any, device: str | None, dtype: str | None) -> Any:
    if not isinstance(model, (str, os.PathLike)):
        return model
    from ..models.registry import load

    return load(os.fspath(model), device=device, dtype=dtype)
