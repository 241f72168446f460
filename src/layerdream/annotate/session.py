"""Human annotation of a RUN, without any web framework: who sees which image next, and how an
answer becomes a verdict.

Why it lives apart from the web app: every rule that decides what a human's answer *means* (blind
order, resume, grading, the verdict row) is here in plain Python, testable without a browser, and the
web layer (``app.py``) only renders and parses.

* **Blind.** An annotator sees an image and a question, nothing else: images are named by an opaque
  id (an HMAC of the job key with a secret kept in the RUN), never by the job key or the file name,
  which both contain the concept.
* **Shuffled per annotator, controls mixed in.** The order of the RUN's images (concept images and
  the random/shuffled controls alike) is the order of ``sha256(name, protocol, key)``: a different
  random order per annotator, the same order every time that annotator comes back, and images a
  still-running sweep adds later slot in without moving the others.
* **Resumable.** The next image is the first of that order the annotator has not yet answered (for
  this protocol and this very image: an image remade since has to be answered again). The RUN's
  database is the only state, so a reload, another browser or a restarted server all resume.
* **Same verdicts as a model judge.** An answer is stored as judge ``human:<name>`` in the RUN's
  ``verdicts`` table through :meth:`Store.replace_verdicts` (one transaction per answer), graded by
  the same graders as model answers (the offline matcher with the concept file's synonyms, or the
  paper's LLM rubric), so every existing table works unchanged on humans.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..evaluation.prompts import category_noun
from ..evaluation.types import Grader
from ..sweep.judging import run_concepts
from ..sweep.store import HUMAN_PREFIX, Store, image_file, is_human  # noqa: F401  (is_human: re-exported, part of annotate's API)

# The words a human is shown. Not the model's prompts (those end "One word.", which reads oddly to a
# person and is not what the issue asks a human); versioned like them so a change is never mixed.
HUMAN_PROMPT_VERSION = "human-v1"
STRINGENT_QUESTION = "What is in the image?"
LENIENT_QUESTION = "What {category} is in the image if you had to guess?"
PROTOCOLS = ("stringent", "lenient")
CANT_TELL = "[can't tell]"  # stored as the answer; scored 0 without asking the grader
MAX_ANSWER = 200
SECRET_META = "annotate_secret"

_NAME = re.compile(r"^[\w][\w .'-]{0,39}$")


def clean_name(raw: str | None) -> str:
    """An annotator's name as stored (``human:<name>``); ValueError with a sentence a person understands."""
    name = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if not name:
        raise ValueError("Please type your name (it keeps your answers apart from your colleagues').")
    if not _NAME.match(name):
        raise ValueError("A name is 1 to 40 letters, digits, spaces, dots, dashes or apostrophes.")
    return name


def human_question(protocol: str, category: str | None) -> str:
    """The question under one protocol: stringent has no hint, lenient names the concept's category."""
    if protocol == "stringent":
        return STRINGENT_QUESTION
    if protocol == "lenient":
        return LENIENT_QUESTION.format(category=category_noun(category))
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def clean_answer(raw: str | None) -> str:
    """Trimmed answer text without control characters, at most ``MAX_ANSWER`` characters; ValueError if empty."""
    text = "".join(ch for ch in (raw or "") if unicodedata.category(ch)[0] != "C" or ch == " ")
    text = " ".join(text.split())[:MAX_ANSWER]
    if not text:
        raise ValueError("Type what you see, or press Esc for \u201ccan't tell\u201d.")
    return text


@dataclass(frozen=True)
class Item:
    """One image of the RUN as the web page may know it: ``id`` is opaque, ``row`` stays on the server."""

    id: str
    row: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.row["key"])


@dataclass(frozen=True)
class Progress:
    """Where one annotator stands: the next item (None when done), how many answered, of how many."""

    item: Item | None
    answered: int
    total: int


class Annotation:
    """One RUN annotated under one protocol, graded by ``grader``.

    Every method opens its own connection to the RUN's SQLite (the web server calls them from worker
    threads, and an sqlite3 connection belongs to one thread); each answer is one transaction.
    """

    def __init__(self, run_dir: str | Path, protocol: str = "stringent", grader: Grader | None = None,
                 choices: bool = False, on_answer: Callable[[str, Progress], None] | None = None) -> None:
        if protocol not in PROTOCOLS:
            raise UserError(f"--protocol {protocol!r}: choose stringent or lenient")
        if choices and protocol != "lenient":
            raise UserError("--choices offers the category's concepts as completions, which only the lenient "
                            "question names; add --protocol lenient or drop --choices")
        self.run_dir = Path(run_dir)
        self.protocol = protocol
        self.choices = choices
        self.on_answer = on_answer
        Store.open_existing(self.run_dir).close()  # a read-only RUN is refused now, not at the first answer
        with self._store() as store:
            if not store.results():
                raise UserError(f"RUN {str(self.run_dir)!r} has no images yet; run (or wait for) `layerdream sweep` first")
            store.conn.execute("PRAGMA journal_mode=WAL")  # concurrent annotators: readers never block the writer
            secret = store.get_meta(SECRET_META)
            if not secret:  # kept in the RUN, so a restarted server understands pages served before
                store.set_meta(SECRET_META, secrets.token_hex(16))
                secret = store.get_meta(SECRET_META)
            concepts = run_concepts(store)
        self._secret = bytes.fromhex(secret)
        self.concepts = concepts
        if grader is None:
            from ..evaluation.matcher import MatchGrader

            grader = MatchGrader(synonyms={c.name: list(c.synonyms) for c in concepts.concepts if c.synonyms})
        self.grader = grader

    # -- store access ----------------------------------------------------------------------------
    def _store(self) -> "_Opened":
        return _Opened(self.run_dir)

    # -- items -----------------------------------------------------------------------------------
    def item_id(self, key: str) -> str:
        """The opaque, stable name of a job's image: nothing in it tells the concept."""
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:24]

    def items(self, store: Store) -> dict[str, Item]:
        """id -> Item for every image the RUN holds now (a running sweep adds more between calls)."""
        return {(i := self.item_id(r["key"])): Item(i, r) for r in store.results()}

    def order(self, name: str, items: dict[str, Item]) -> list[Item]:
        """This annotator's order: shuffled per (name, protocol), stable across visits and restarts."""
        def rank(item: Item) -> str:
            return hashlib.sha256(f"{name}\0{self.protocol}\0{item.key}".encode()).hexdigest()

        return sorted(items.values(), key=rank)

    def _answered(self, store: Store, name: str, items: dict[str, Item]) -> set[str]:
        sha = {it.key: it.row["image_sha256"] for it in items.values()}
        return {v["key"] for v in store.verdicts(HUMAN_PREFIX + name)
                if v["protocol"] == self.protocol and v["prompt_version"] == HUMAN_PROMPT_VERSION
                and v["key"] in sha and v["image_sha256"] == sha[v["key"]]}

    def progress(self, name: str) -> Progress:
        """The annotator's next image and counts; the database is the only state (resume = reload)."""
        with self._store() as store:
            items = self.items(store)
            done = self._answered(store, name, items)
        order = self.order(name, items)
        nxt = next((it for it in order if it.key not in done), None)
        return Progress(nxt, sum(1 for it in order if it.key in done), len(order))

    def question(self, item: Item) -> str:
        return human_question(self.protocol, item.row["category"])

    def completions(self, item: Item) -> list[str]:
        """With ``choices`` (lenient only): the concepts of the item's category, alphabetically (no order hint)."""
        if not self.choices:
            return []
        return sorted((c.name for c in self.concepts.concepts if c.category == item.row["category"]), key=str.lower)

    def image(self, item_id: str) -> bytes | None:
        """The bytes of one image, found through the RUN's results table only; None if the id is not
        an image of the RUN or the file is gone or changed (never a path taken from the request)."""
        with self._store() as store:
            item = self.items(store).get(item_id)
        if item is None:
            return None
        path = image_file(self.run_dir, item.row["image_path"])  # never a file outside RUN, whatever RUN's database says
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == item.row["image_sha256"] else None

    # -- answers ---------------------------------------------------------------------------------
    def record(self, name: str, item_id: str, answer: str | None) -> dict[str, Any] | None:
        """Grade and store one answer (``answer`` None: "can't tell", scored 0) in one transaction.

        Returns the stored verdict row, or None when ``item_id`` is not (any more) an image of the RUN.
        ValueError (a sentence for the annotator) for an empty answer."""
        text = CANT_TELL if answer is None else clean_answer(answer)
        with self._store() as store:
            item = self.items(store).get(item_id)
        if item is None:
            return None
        row = self.grade_row(name, item.row, text)
        with self._store() as store:
            store.replace_verdicts(row["judge"], [(item.key, self.protocol)], [row])
        if self.on_answer is not None:
            self.on_answer(name, self.progress(name))
        return row

    def grade_row(self, name: str, result: dict[str, Any], text: str, protocol: str | None = None) -> dict[str, Any]:
        """The verdict row of one human answer, graded like a model's answer (grader errors kept, not 0)."""
        protocol = protocol or self.protocol
        score: int | None
        error: str | None = None
        if text == CANT_TELL:
            score = 0
        else:
            try:
                grade = self.grader.grade([(human_question(protocol, result["category"]), text, result["concept"])])[0]
                score, error = grade.score, grade.error
            except Exception as err:  # a grader outage must never lose the human's answer
                score, error = None, f"grader: {type(err).__name__}: {str(err)[:200]}"
        return {"key": result["key"], "protocol": protocol, "query_index": 0, "judge": HUMAN_PREFIX + name,
                "prompt_version": HUMAN_PROMPT_VERSION, "concept": result["concept"], "answer": text,
                "score": score, "error": error, "grader": self.grader.id, "image_sha256": result["image_sha256"],
                "created_at": time.time()}

    def regrade_failed(self) -> int:
        """Grade again every human answer whose grading failed (an LLM grader that was down); returns
        how many now have a score. The answers themselves were stored when given and are never lost."""
        with self._store() as store:
            results = {r["key"]: r for r in store.results()}
            failed = [v for v in store.verdicts() if is_human(v["judge"]) and v["error"] and v["answer"]
                      and v["key"] in results]
        fixed = 0
        for v in failed:
            row = self.grade_row(v["judge"][len(HUMAN_PREFIX):], {**results[v["key"]], "image_sha256": v["image_sha256"]},
                                 v["answer"], protocol=v["protocol"])
            if row["error"] is None:
                row["created_at"] = v["created_at"]
                with self._store() as store:
                    store.replace_verdicts(v["judge"], [(v["key"], v["protocol"])], [row])
                fixed += 1
        return fixed


class _Opened:
    """``with``: a fresh read-write connection to the RUN for the calling thread, closed on exit."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.store: Store | None = None

    def __enter__(self) -> Store:
        self.store = Store.open_existing(self.run_dir, probe=False)  # Annotation() proved RUN writable once
        return self.store

    def __exit__(self, *exc: object) -> None:
        assert self.store is not None
        self.store.close()
