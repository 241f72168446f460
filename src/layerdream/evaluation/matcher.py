"""The offline grader: a transparent string matcher with a synonym list.

Used when no LLM grader is configured (tests, offline machines, or to cross-check the LLM grader).
Rule: after normalisation (lowercase, accents and punctuation removed, parenthesised qualifiers
dropped, articles dropped, simple plurals singularised), the answer is a match iff the concept or one
of its synonyms occurs in it as a whole-word sequence. So "Dogs." matches "dog", "spring (season)"
is matched by "Spring", and "a golden retriever dog" matches "dog" (the rubric also accepts answers
that mention other things besides the concept). Every rule is here to read; nothing is learned.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Sequence

from .types import Grade, Grader

MATCHER_VERSION = "match-v1"

_IRREGULAR = {
    "mice": "mouse", "geese": "goose", "people": "person", "children": "child", "men": "man",
    "women": "woman", "teeth": "tooth", "feet": "foot", "oxen": "ox", "octopi": "octopus",
    "cacti": "cactus", "knives": "knife", "leaves": "leaf", "wolves": "wolf", "calves": "calf",
}
_NO_SINGULAR = {
    "chess", "glass", "grass", "class", "boss", "bus", "octopus", "physics", "mathematics", "news",
    "swiss", "christmas", "species", "series", "paris", "summer", "this", "is", "was", "has", "its",
    "us", "yes", "bias", "gas", "lens", "cross", "moss", "dress", "less", "kiss", "jesus", "texas",
    "athens", "ethics", "economics", "politics", "linguistics", "genetics", "gymnastics", "aerobics",
    "cleopatra", "caesar", "elvis", "frida", "marilyn", "achilles", "hercules", "venus", "mars", "tennis",
    "boxing", "analysis", "basis", "crisis", "thesis", "virus", "cactus", "citrus", "walrus", "platypus",
}
_ARTICLES = {"a", "an", "the", "some"}

# Synonyms for the concepts of method.md b.8 (and a few toy-world ones): forms a competent human grader
# would accept as naming the concept. Keys and values are in normalised form.
SYNONYMS: dict[str, set[str]] = {
    "dog": {"puppy", "hound", "canine"},
    "t rex": {"tyrannosaurus", "tyrannosaurus rex", "trex", "dinosaur"},
    "bee": {"honeybee", "bumblebee", "honey bee", "bumble bee"},
    "parrot": {"macaw", "cockatoo", "parakeet"},
    "frog": {"toad"},
    "autumn": {"fall"},
    "soccer": {"football"},
    "hockey": {"ice hockey"},
    "new york": {"nyc", "manhattan", "new york city"},
    "san francisco": {"sf", "golden gate"},
    "mathematics": {"math", "maths"},
    "computer science": {"computing", "programming", "coding", "computer"},
    "music": {"musical", "melody"},
    "happiness": {"happy", "joy", "joyful"},
    "sadness": {"sad", "sorrow", "grief"},
    "anger": {"angry", "rage", "fury"},
    "fear": {"afraid", "scared", "fright", "terror"},
    "love": {"romance", "loving"},
    "happy person": {"happy", "joyful", "smiling"},
    "sad person": {"sad", "crying", "sorrowful"},
    "angry person": {"angry", "furious"},
    "fearful person": {"fearful", "scared", "afraid", "frightened"},
    "loving person": {"loving", "love", "affectionate"},
    "einstein": {"albert einstein"},
    "caesar": {"julius caesar"},
    "napoleon": {"bonaparte"},
    "william shakespeare": {"shakespeare"},
    "wolfgang amadeus mozart": {"mozart"},
    "winston churchill": {"churchill"},
    "elvis presley": {"elvis", "presley"},
    "frida kahlo": {"frida", "kahlo"},
    "marilyn monroe": {"marilyn", "monroe"},
    "phone": {"telephone", "smartphone", "cellphone", "mobile phone"},
    "bicycle": {"bike", "cycling"},
    "armchair": {"chair", "sofa"},
    "silent": {"silence", "quiet"},
    "loud": {"noise", "noisy", "loudness"},
    "sweet": {"sweetness", "candy", "dessert"},
    "rough": {"roughness"},
    "smooth": {"smoothness"},
    "swimming": {"swim", "swimmer"},
    "running": {"run", "runner", "jogging"},
    "reading": {"read", "reader", "book"},
    "eating": {"eat", "meal"},
    "sleeping": {"sleep", "asleep"},
    "crying": {"cry", "tear", "weeping"},
    "smiling": {"smile"},
    "flying": {"fly", "flight"},
    "screaming": {"scream", "shout", "yelling"},
    "dancing": {"dance", "dancer"},
    "programming": {"coding", "code", "programmer"},
    "translating": {"translation", "translate"},
    "refusing": {"refusal", "refuse"},
    "summarizing": {"summary", "summarising", "summarize", "summarise"},
    "formatting": {"format"},
    "grey": {"gray"},
    "gray": {"grey"},
    "colour": {"color"},
}


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _NO_SINGULAR or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def normalize(text: str, drop_qualifier: bool = True) -> list[str]:
    """Lowercase, strip accents, drop "(...)" qualifiers, punctuation and articles, singularise."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    if drop_qualifier:
        text = re.sub(r"\([^)]*\)", " ", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return [_singular(w) for w in text.split() if w not in _ARTICLES]


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def accepted_forms(concept: str, extra: Iterable[str] = ()) -> list[list[str]]:
    """The concept and its synonyms, each as a normalised token list."""
    key = " ".join(normalize(concept))
    forms = {key, *(" ".join(normalize(s)) for s in SYNONYMS.get(key, ())), *(" ".join(normalize(s)) for s in extra)}
    return [f.split() for f in sorted(forms) if f]


def matches(answer: str | None, concept: str, synonyms: Iterable[str] = ()) -> bool:
    """True iff the answer names the concept or a synonym as a whole-word sequence."""
    if not answer:
        return False
    tokens = normalize(answer)
    return any(_contains(tokens, form) for form in accepted_forms(concept, synonyms))


class MatchGrader(Grader):
    """Offline grader; deterministic, free, and the default when no ``grader_model`` is given."""

    id = "matcher"
    version = MATCHER_VERSION

    def __init__(self, synonyms: dict[str, Iterable[str]] | None = None) -> None:
        self.synonyms = {" ".join(normalize(k)): list(v) for k, v in (synonyms or {}).items()}

    def grade(self, tasks: Sequence[tuple[str, str, str]], progress: bool = False) -> list[Grade]:
        out = []
        for _request, response, concept in tasks:
            extra = self.synonyms.get(" ".join(normalize(concept)), ())
            out.append(Grade(score=int(matches(response, concept, extra)), raw=None))
        return out
