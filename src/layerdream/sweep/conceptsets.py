"""Concept sets: which concepts a sweep synthesises, and which category each belongs to.

A sweep needs categories (the paper reports recognition per category, and the lenient judge prompt
names the category) and optional synonyms (so a matcher can accept "tyrannosaurus" for "T-rex").
Three sources, one in-memory form (:class:`ConceptSet`):

* ``paper``: the 105 concepts in 14 categories of method.md b.8, shipped as ``data/paper_concepts.yaml``;
* ``toy``: the toy world's concepts (``layerdream.toyworld.world.CATEGORIES``);
* a YAML or CSV file (format in docs/sweeps.md).

The set's :meth:`ConceptSet.fingerprint` is part of a sweep's settings, so a RUN is never silently
filled with results for a different concept list.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..io import is_blank


@dataclass(frozen=True)
class Concept:
    """One concept: ``name`` is what the engine embeds and what the judge must recognise."""

    name: str
    category: str
    synonyms: tuple[str, ...] = ()


@dataclass
class ConceptSet:
    """An ordered list of concepts with a name (``paper``, ``toy``, or the file's stem)."""

    name: str
    concepts: list[Concept] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.concepts:
            seen.setdefault(c.category, None)
        return list(seen)

    def by_name(self) -> dict[str, Concept]:
        return {c.name: c for c in self.concepts}

    def in_category(self, category: str) -> list[Concept]:
        return [c for c in self.concepts if c.category == category]

    def to_json(self) -> list[dict[str, Any]]:
        return [{**asdict(c), "synonyms": list(c.synonyms)} for c in self.concepts]

    @classmethod
    def from_json(cls, name: str, rows: list[dict[str, Any]]) -> "ConceptSet":
        return cls(name, [Concept(r["name"], r["category"], tuple(r.get("synonyms", ())))
                          for r in rows])

    def fingerprint(self) -> str:
        """Content hash: same concepts, categories and synonyms in the same order = same fingerprint."""
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _yaml(text: str) -> Any:
    """YAML with every scalar kept as the text the user wrote.

    YAML 1.1 (PyYAML's safe_load) reads ``NO`` as False, ``123`` as an int and ``null`` as None, so
    ``country: [NO, SE, dog]`` made the concept "False" (Norway, lost). A concept is text, so no scalar
    is converted: ``NO``, ``123``, ``true`` and ``null`` are those words."""
    return yaml.load(text, Loader=yaml.BaseLoader)


def load_concept_set(spec: str) -> ConceptSet:
    """``paper``, ``toy``, or a path to a .yaml/.yml/.csv file; raises UserError for anything else."""
    if spec == "paper":
        text = resources.files("layerdream").joinpath("data/paper_concepts.yaml").read_text()
        return _validated(_from_yaml_obj(_yaml(text), "paper", "paper"), "paper")
    if spec == "toy":
        return _toy_set()
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--concepts {spec!r}: no such file; give a .yaml/.csv file, 'paper' or 'toy'")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"--concepts {spec!r}: cannot read it ({err})") from None
    if suffix in (".yaml", ".yml"):
        try:
            obj = _yaml(text)
        except yaml.YAMLError as err:
            raise UserError(f"--concepts {spec!r}: not valid YAML ({str(err).splitlines()[0]})") from None
        return _validated(_from_yaml_obj(obj, path.stem, spec), spec)
    if suffix == ".csv":
        return _validated(_from_csv(text, path.stem, spec), spec)
    raise UserError(f"--concepts {spec!r}: unknown file type {suffix!r}; use .yaml, .yml or .csv")


def _toy_set() -> ConceptSet:
    try:
        from ..toyworld.world import CATEGORIES
    except ImportError as err:
        raise UserError(f"--concepts toy needs layerdream.toyworld.world, which cannot be imported ({err})") from None
    concepts = [Concept(str(name), str(cat)) for cat, names in CATEGORIES.items() for name in names]
    return _validated(ConceptSet("toy", concepts), "toy")


def _from_yaml_obj(obj: Any, name: str, where: str) -> ConceptSet:
    """Accept ``{categories: {Cat: [..]}}``, ``{Cat: [..]}`` and ``{Cat: {concepts: [..]}}``."""
    if not isinstance(obj, dict):
        raise UserError(f"--concepts {where!r}: expected a mapping 'categories: {{Category: [concepts]}}'")
    name = str(obj.get("name", name)) if "categories" in obj else name
    cats = obj.get("categories", obj)
    if not isinstance(cats, dict) or not cats:
        raise UserError(f"--concepts {where!r}: 'categories' must map category names to lists of concepts")
    out: list[Concept] = []
    for cat, body in cats.items():
        if isinstance(body, dict):
            body = body.get("concepts")
        if not isinstance(body, list):
            raise UserError(f"--concepts {where!r}: category {cat!r} needs a list of concepts")
        for item in body:
            if isinstance(item, dict):
                if "name" not in item:
                    raise UserError(f"--concepts {where!r}: an entry in {cat!r} has no 'name'")
                if not isinstance(item["name"], str):
                    raise UserError(f"--concepts {where!r}: the name of an entry in {cat!r} must be text, "
                                    f"not {type(item['name']).__name__} {item['name']!r}")
                syn = item.get("synonyms") or []
                syn = [syn] if isinstance(syn, str) else syn
                if not isinstance(syn, list) or not all(isinstance(x, str) for x in syn):
                    raise UserError(f"--concepts {where!r}: synonyms of {item['name']!r} must be a word or a list of "
                                    f"words, e.g. synonyms: [puppy, hound]; got {syn!r}")
                out.append(Concept(item["name"].strip(), str(cat), tuple(x.strip() for x in syn if x.strip())))
            elif isinstance(item, str):
                out.append(Concept(item.strip(), str(cat)))
            else:
                raise UserError(f"--concepts {where!r}: {item!r} in {cat!r} is not a concept; give words, or "
                                "{name: word, synonyms: [..]} entries")
    return ConceptSet(name, out)


def _from_csv(text: str, name: str, where: str) -> ConceptSet:
    """Columns ``concept,category`` (required) and ``synonyms`` (optional, ``;``-separated)."""
    reader = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "concept" not in fields or "category" not in fields:
        raise UserError(f"--concepts {where!r}: the CSV needs a header with 'concept' and 'category' columns")
    out: list[Concept] = []
    for row in reader:
        row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        syn = tuple(s.strip() for s in row.get("synonyms", "").split(";") if s.strip())
        out.append(Concept(row["concept"], row["category"], syn))
    return ConceptSet(name, out)


def _validated(cs: ConceptSet, where: str) -> ConceptSet:
    if not cs.concepts:
        raise UserError(f"--concepts {where!r}: no concepts found")
    seen: set[str] = set()
    for c in cs.concepts:
        if is_blank(c.name) or is_blank(c.category):  # '' and invisible-only text (a zero-width space) alike
            raise UserError(f"--concepts {where!r}: every concept needs a non-empty name and category"
                            + (f" ({c.name!r} in {c.category!r} shows nothing)" if c.name or c.category else ""))
        if c.name in seen:
            raise UserError(f"--concepts {where!r}: concept {c.name!r} appears twice; names must be unique")
        seen.add(c.name)
    return cs
