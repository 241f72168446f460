"""Text corpora for the contextual lens: the sentences whose token states form the index.

Three sources, one form (a list of sentences plus a name and a content hash):

* ``concepts`` (default, offline, shipped): template sentences over the toy world's concepts (its
  own caption and text templates, in the toy LMs' vocabulary) and over the paper's 105 concepts and
  their synonyms (plain English templates). Built in code, deterministic; sentences a tokenizer cannot
  read (``<unk>``) are dropped when the index is built, so a toy LM with a 90-word vocabulary indexes
  the toy sentences and a real tokenizer indexes all of them. Why this default, measured: docs/lens.md
  ("Which corpus").
* ``latentlens``: the 117k sentences over 23k WordNet concepts that the ``latentlens`` wheel bundles
  (MIT, Krojer et al.). Read as a data file from the installed distribution, never imported (the
  wheel declares torchvision, which does not import beside the CPU torch wheel): install it with
  ``pip install --no-deps latentlens``. ``limit`` takes a seeded sample (the whole file is ~3M tokens).
* a text file (one sentence per line, ``#`` lines skipped) the user passes.
"""
from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import UserError

BUILTIN = ("concepts", "latentlens")
PAPER_TEMPLATES = (
    "a photo of {c}.", "this is {c}.", "here you can see {c}.", "{c} is shown in the picture.",
    "we talked about {c} for a long time.", "the word {c} belongs to {cat}.",
)


@dataclass(frozen=True)
class Corpus:
    name: str
    sentences: tuple[str, ...]

    @property
    def digest(self) -> str:
        """Content hash (the index fingerprint uses it: the same name with other sentences is another index)."""
        h = hashlib.sha256()
        for s in self.sentences:
            h.update(s.encode("utf-8") + b"\n")
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.sentences)


def toy_sentences(seed: int = 0, captions_per_template: int = 60) -> list[str]:
    """Toy-world captions (every template, a seeded sample of factor combinations) and its text-only
    sentences (baseline nouns with concept words): the distribution the toy LMs were trained on."""
    from ..toyworld import world

    rng = random.Random(seed)
    cats = world.CATEGORIES
    out = []
    for template in world.TEMPLATES:
        for _ in range(captions_per_template):
            out.append(template.format(c=rng.choice(cats["colour"]), s=rng.choice(cats["shape"]),
                                       b=rng.choice(cats["background"]), t=rng.choice(cats["season"])))
    for template in world.TEXT_TEMPLATES:
        for _ in range(captions_per_template // 3):
            n, m = rng.sample(world.BASELINE_WORDS, 2)
            out.append(template.format(n=n, m=m, c=rng.choice(cats["colour"]), s=rng.choice(cats["shape"]),
                                       b=rng.choice(cats["background"]), t=rng.choice(cats["season"])))
    return list(dict.fromkeys(out))


def paper_sentences() -> list[str]:
    """English templates over the paper's concepts and synonyms (category named in lower case)."""
    import yaml

    text = resources.files("layerdream").joinpath("data/paper_concepts.yaml").read_text()
    out = []
    for cat, body in yaml.safe_load(text)["categories"].items():
        for item in body["concepts"]:
            names = [item] if isinstance(item, str) else [item["name"], *(item.get("synonyms") or [])]
            for name in names:
                name = str(name).split(" (")[0]  # "spring (season)" -> "spring"
                out += [t.format(c=name, cat=str(cat).lower()) for t in PAPER_TEMPLATES]
    return list(dict.fromkeys(out))


def latentlens_file() -> Path:
    """The corpus file inside an installed ``latentlens`` distribution, located without importing it."""
    from importlib import metadata

    try:
        dist = metadata.distribution("latentlens")
    except metadata.PackageNotFoundError:
        raise UserError("--corpus latentlens needs the latentlens wheel's data: pip install --no-deps latentlens "
                        "(--no-deps: its torchvision requirement breaks a CPU torch; only its data file is read)") from None
    path = Path(str(dist.locate_file("latentlens/data/concepts.txt")))
    if not path.is_file():
        raise UserError(f"the installed latentlens has no data/concepts.txt ({path}); reinstall it: "
                        "pip install --no-deps --force-reinstall latentlens")
    return path


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{what} {str(path)!r}: cannot read it ({getattr(err, 'strerror', None) or err}); "
                        "give a UTF-8 text file, one sentence per line") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def load_corpus(spec: str | os.PathLike[str] = "concepts", limit: int | None = None, seed: int = 0) -> Corpus:
    """``"concepts"``, ``"latentlens"`` or a text file -> :class:`Corpus`; ``limit``: a seeded sample of
    at most that many sentences (order kept). An empty corpus is refused here, before any model loads."""
    if limit is not None and limit < 1:
        raise UserError(f"--corpus-limit must be at least 1 sentence, got {limit}")
    spec_s = os.fspath(spec)
    if spec_s == "concepts":
        name, sentences = "concepts", toy_sentences() + paper_sentences()
    elif spec_s == "latentlens":
        name, sentences = "latentlens", _read_lines(latentlens_file(), "the latentlens corpus")
    else:
        path = Path(spec_s)
        if not path.is_file():
            raise UserError(f"--corpus {spec_s!r}: no such file; give a text file (one sentence per line), "
                            f"or one of {', '.join(BUILTIN)}")
        name, sentences = path.name, _read_lines(path, "--corpus")
    sentences = list(dict.fromkeys(sentences))
    if not sentences:
        raise UserError(f"--corpus {spec_s!r} is empty; give at least one sentence per line")
    if limit is not None and len(sentences) > limit:
        keep = sorted(random.Random(seed).sample(range(len(sentences)), limit))
        sentences = [sentences[i] for i in keep]
        name = f"{name}[{limit}@{seed}]"
    return Corpus(name, tuple(sentences))
