"""The data that crosses the evaluation boundary, and the two small interfaces behind every backend.

A *judge* turns (image, question) into an answer; a *grader* turns (question, answer, concept) into
0/1. They are separate because the paper separates them (GPT-5 answers, GPT-5-mini grades) and
because re-grading (say, offline matcher vs LLM rubric) must not cost a single new judge query.
Judges that score themselves (CLIP rank, the toy classifier) return the score directly and have no
grader.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence


def file_sha256(path: str | Path) -> str:
    """Content hash of an image file: the cache key, so a renamed image is not judged twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class JudgeItem:
    """One image to judge for one concept. ``key`` is the caller's id (e.g. the sweep's job id).

    ``candidates`` are the concepts the rank-based judges (clip) compete the concept against, normally
    all concepts of the sweep. ``candidate_categories`` (optional, concept -> category) lets the clip
    judge's lenient protocol restrict the competition to the concept's own category, the analogue of
    the category hint. An empty ``image_sha256`` is computed from the file.
    """

    image_path: str
    image_sha256: str
    concept: str
    category: str | None = None
    candidates: list[str] = field(default_factory=list)
    key: str = ""
    candidate_categories: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.image_sha256:
            self.image_sha256 = file_sha256(self.image_path)

    @classmethod
    def from_path(cls, image_path: str | Path, concept: str, **kwargs: Any) -> "JudgeItem":
        return cls(image_path=str(image_path), image_sha256="", concept=concept, **kwargs)


@dataclass
class Verdict:
    """One graded answer. ``score`` is 1/0, or None when the judge or grader failed (``error`` says why);
    errors are kept in the results, never silently dropped, and never counted as 0."""

    key: str
    concept: str
    protocol: str
    query_index: int
    answer: str | None
    score: int | None
    error: str | None
    judge: str
    prompt_version: str
    grader: str
    # additions (not in the original contract, all optional):
    category: str | None = None
    image_sha256: str = ""
    prompt: str = ""
    rank: int | None = None
    retries: int = 0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Query:
    """One question to a judge: the item, the protocol, which repeat, and the exact prompt text."""

    item: JudgeItem
    protocol: str
    query_index: int
    prompt: str


@dataclass
class Answer:
    """What a judge returns for one query. ``score`` is set only by self-scoring judges."""

    text: str | None
    error: str | None = None
    score: int | None = None
    rank: int | None = None
    retries: int = 0


@dataclass
class Grade:
    score: int | None
    error: str | None = None
    raw: str | None = None
    retries: int = 0


class Grader:
    """Scores answers 0/1 against the concept. ``id`` + ``version`` key the grade cache."""

    id: str = "grader"
    version: str = ""
    chosen_by: str | None = None  # why this grader (a default rule), for summaries; None: the user named it

    def grade(self, tasks: Sequence[tuple[str, str, str]], progress: bool = False) -> list[Grade]:
        """``tasks``: (request, response, concept) triples; one Grade per task, in order."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Judge:
    """Answers recognition questions about images.

    ``id`` names the backend and model (never a secret) and keys the cache. ``deterministic`` judges
    give the same answer every time, so :func:`evaluate` asks them once per (image, protocol) instead
    of ``n_queries`` times: repeating an identical answer would fake a tighter interval.
    """

    id: str = "judge"
    deterministic: bool = False
    prompt_version: str = ""
    grader: Grader | None = None

    def prompt(self, item: JudgeItem, protocol: str) -> str:
        raise NotImplementedError

    def answer(self, queries: Sequence[Query], progress: bool = False) -> list[Answer]:
        raise NotImplementedError

    def close(self) -> None:
        if self.grader is not None:
            self.grader.close()

    @property
    def grader_id(self) -> str:
        return self.grader.id if self.grader is not None else "self"

    @property
    def grader_description(self) -> str:
        """The grader in words, with the default rule that chose it (``grading.describe_grader``)."""
        from .grading import describe_grader

        return describe_grader(self.grader_id, getattr(self.grader, "chosen_by", None))
