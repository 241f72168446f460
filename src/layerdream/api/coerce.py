"""Turning what a user passes into what the study needs, checked: concepts, baseline words, integer lists,
method options, protocols, image files. Shared by every API function (and so by the CLI commands over
them), so a notebook and a terminal refuse the same inputs with the same one line."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import UserError

if TYPE_CHECKING:  # only for type checkers: importing these costs seconds
    from ..models.vlm import VLM
    from ..sweep.conceptsets import ConceptSet


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise UserError("DataFrames need pandas, which is not installed: pip install 'layerdream[notebook]'") from None
    return pd


INLINE_SET = "inline"  # name of a concept set given as a dict or list in Python


def concept_set(concepts: str | os.PathLike[str] | ConceptSet | Mapping[str, Sequence[Any]] | Sequence[str]) -> ConceptSet:
    """Whatever a user may pass as concepts, as a :class:`ConceptSet`.

    ``"paper"``, ``"toy"``, a .yaml/.csv path (as ``--concepts``); a ConceptSet; a dict
    ``{category: [concept, ...]}`` (entries may be ``{"name": ..., "synonyms": [...]}``, as in YAML files);
    or a plain list of concepts (one category, ``"concepts"``). Dicts and lists are named ``inline``.
    """
    from ..sweep.conceptsets import ConceptSet, _from_yaml_obj, _validated, load_concept_set

    if isinstance(concepts, ConceptSet):
        return concepts
    if isinstance(concepts, (str, os.PathLike)):
        return load_concept_set(os.fspath(concepts))
    if isinstance(concepts, Mapping):
        return _validated(_from_yaml_obj({"categories": dict(concepts)}, INLINE_SET, INLINE_SET), INLINE_SET)
    if isinstance(concepts, Sequence) and concepts and all(isinstance(c, str) for c in concepts):
        return _validated(_from_yaml_obj({"categories": {"concepts": list(concepts)}}, INLINE_SET, INLINE_SET), INLINE_SET)
    raise UserError(f"concepts: expected 'paper', 'toy', a .yaml/.csv file, a dict {{category: [concepts]}} or a list "
                    f"of concepts, got {type(concepts).__name__}")


def baseline_words(path: str | os.PathLike[str]) -> list[str]:
    """Read a baseline file once (one word per line), so a RUN records the words themselves (a file can change).

    The one reader of word files (``concepts.read_baseline_words``: a byte-order mark is accepted, binary
    data and an empty file are one line each), as ``synthesize`` reads them."""
    from ..concepts import read_baseline_words

    return read_baseline_words(os.fspath(path), what="--baseline")


def _int_list(values: Any, what: str) -> list[int]:
    from ..checks import whole_numbers

    return whole_numbers(values, what)  # one check for the API and the subsystems (bools refused)


def _checkpoint_vision(value: str | bool) -> str | bool:
    table = {"auto": "auto", "on": True, "off": False, True: True, False: False}
    if value not in table:
        raise UserError(f"checkpoint_vision must be 'auto', 'on', 'off', True or False, got {value!r}")
    return table[value]


METHOD_OPTIONS = ("lr", "tau", "copies", "weighting", "per_position_centring", "upsample", "prompt_format", "baseline",
                  "negatives")


def _method_options(method: dict[str, Any]) -> dict[str, Any]:
    """The method overrides a RUN records, exactly as the CLI's flags give them (so both make the same RUN)."""
    unknown = sorted(set(method) - set(METHOD_OPTIONS))
    if unknown:
        raise TypeError(f"unknown sweep option(s) {unknown}; method options are {', '.join(METHOD_OPTIONS)}")
    options = {k: method.get(k) for k in METHOD_OPTIONS}
    options["negatives"] = dict(options["negatives"]) or None if options["negatives"] else None
    if options["per_position_centring"] is False:
        options["per_position_centring"] = None  # the CLI flag can only say yes; no is the default
    if isinstance(options["baseline"], (list, tuple)):
        options["baseline"] = [str(w).strip() for w in options["baseline"] if str(w).strip()] or None
    return options


def protocol_list(protocols: str | Sequence[str]) -> tuple[str, ...]:
    """``"stringent,lenient"`` or a sequence, checked (never pooled: each protocol is its own question)."""
    from ..evaluation.prompts import PROTOCOLS

    items = protocols.split(",") if isinstance(protocols, str) else list(protocols)
    out = tuple(str(p).strip() for p in items if str(p).strip())
    bad = [p for p in out if p not in PROTOCOLS]
    if bad or not out:
        raise UserError(f"--protocol must be a comma list of {', '.join(PROTOCOLS)}, got {protocols!r}")
    return out


def check_image_file(path: str) -> None:
    """A readable image, or one UserError: checked before a judge is built or a query is paid for."""
    from PIL import Image

    if not os.path.isfile(path):
        raise UserError(f"no image file {path!r}; pass the path of a PNG or JPEG")
    try:
        with Image.open(path) as img:
            img.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split())[:120]
        raise UserError(f"{path!r} is not an image that can be read ({type(err).__name__}: {reason}); "
                        "pass a PNG or JPEG") from None


def _load(model: str | VLM, device: str | None, dtype: str | None, function: str = "align") -> VLM:
    if not isinstance(model, (str, os.PathLike)):
        from ..models.vlm import require_vlm

        return require_vlm(model, function)
    import layerdream as ld

    return ld.load(model, device=device, dtype=dtype)
