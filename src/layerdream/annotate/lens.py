"""Human grading of lens readouts (``layerdream annotate DIR --lens``): LatentLens's protocol for people.

An annotator sees what the LLM judge sees (the image enlarged with one token's patch boxed in red,
beside the patch; written by ``layerdream lens --human-sample N`` into ``DIR/lens_human/``) and the
token's k candidate words, and ticks the candidates that describe the patch, or answers "none of
these". A readout is interpretable to that person when they tick at least one (pass@k).

The rules are those of the recognition page (``session.py``), for the same reasons:

* **Blind.** Items are named by an HMAC of their key with a secret kept beside the answers; the page
  never shows the lens, the layer, the image's name or the automatic/LLM grade.
* **Shuffled per annotator**, in the order of ``sha256(name, "lens", key)``, stable across visits.
* **Resumable.** The answers file is the only state: the next item is the first of the annotator's
  order not answered for this very image (its sha256 as in the manifest: an item whose image was
  written again is asked again).
* **Images checked.** An image is read only through the manifest (a file name in the folder, never a
  path from the request) and served only when its bytes have the manifest's sha256.
* **Stored like verdicts.** One SQLite row per (item, annotator), each answer one transaction
  (WAL, ``BEGIN IMMEDIATE``, 30 s busy timeout), a second answer replacing the first; a read-only
  folder is refused at start.

The answers file ``lens_human/answers.sqlite`` (table ``lens_answers``, columns ``ANSWER_COLUMNS``)
is read by the report (``report/lens_humans.py``) without importing this module.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from .session import HUMAN_PREFIX, Progress

FOLDER = "lens_human"
MANIFEST = "items.csv"
ANSWERS = "answers.sqlite"
PROMPT_VERSION = "human-lens-v1"
PROTOCOL = "lens"
QUESTION = "Which of these words describe what is inside the red box (an object or part of it, a colour, a material, or the scene around it)?"
MANIFEST_COLUMNS = ("key", "candidates", "png", "png_sha256")  # what the page needs of ``lens/human.py``'s items.csv
ANSWER_COLUMNS = ("key", "judge", "prompt_version", "item_sha256", "interpretable", "chosen", "candidates", "created_at")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lens_answers (
    key TEXT NOT NULL, judge TEXT NOT NULL, prompt_version TEXT NOT NULL, item_sha256 TEXT NOT NULL,
    interpretable INTEGER NOT NULL, chosen TEXT NOT NULL, candidates TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (key, judge, prompt_version));
"""


def lens_folder(path: str | Path) -> Path:
    """The folder holding ``lens_human/``: PATH itself (a ``layerdream lens --out``) or PATH/lens (a RUN)."""
    p = Path(path)
    for cand in (p, p / "lens"):
        if (cand / FOLDER / MANIFEST).is_file():
            return cand
    raise UserError(f"{str(p)!r} has no lens readouts for people to grade ({FOLDER}/{MANIFEST}); write them with "
                    f"`layerdream lens ... --out {p} --human-sample 20` (for a RUN: `layerdream lens --images RUN --human-sample 20`)")


@dataclass(frozen=True)
class LensItem:
    """One readout to grade: ``id`` is opaque, ``row`` (the manifest's line) stays on the server."""

    id: str
    row: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.row["key"])

    @property
    def choices(self) -> list[str]:
        """The candidates a person is offered: rank order, each distinct word once."""
        return list(dict.fromkeys(json.loads(self.row["candidates"])))


class LensAnnotation:
    """The readouts of one lens folder, graded by people; the app calls these from worker threads
    (every method opens its own SQLite connection)."""

    kind = "lens"
    protocol = PROTOCOL

    def __init__(self, path: str | Path, on_answer: Callable[[str, Progress], None] | None = None) -> None:
        self.folder = lens_folder(path) / FOLDER
        self.db = self.folder / ANSWERS
        self.on_answer = on_answer
        rows = self._manifest()
        if not rows:
            raise UserError(f"{self.folder / MANIFEST} lists no readouts; run `layerdream lens ... --human-sample N` again")
        try:
            with self._tx() as conn:
                got = conn.execute("SELECT value FROM meta WHERE key = 'annotate_secret'").fetchone()
                if got is None:
                    conn.execute("INSERT INTO meta VALUES ('annotate_secret', ?)", (secrets.token_hex(16),))
        except sqlite3.Error as err:
            raise UserError(f"cannot write the answers file {self.db} ({err}); annotate a copy of the folder you can write") from None
        with closing(self._connect()) as conn:
            secret = conn.execute("SELECT value FROM meta WHERE key = 'annotate_secret'").fetchone()[0]
        self._secret = bytes.fromhex(secret)

    # -- storage -------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(_SCHEMA)
        return conn

    def _tx(self) -> "_Tx":
        return _Tx(self._connect())

    def _manifest(self) -> list[dict[str, Any]]:
        try:
            with open(self.folder / MANIFEST, encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                rows = list(reader)
                missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise UserError(f"cannot read {self.folder / MANIFEST} ({err}); write it again with "
                            "`layerdream lens ... --human-sample N`") from None
        if missing:
            raise UserError(f"{self.folder / MANIFEST} is not a manifest of readouts (no {', '.join(missing)}); write it "
                            "again with `layerdream lens ... --human-sample N`")
        return rows

    # -- items ---------------------------------------------------------------------------------
    def item_id(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:24]

    def items(self) -> dict[str, LensItem]:
        return {(i := self.item_id(r["key"])): LensItem(i, r) for r in self._manifest()}

    def order(self, name: str, items: dict[str, LensItem]) -> list[LensItem]:
        return sorted(items.values(), key=lambda it: hashlib.sha256(f"{name}\0{PROTOCOL}\0{it.key}".encode()).hexdigest())

    def progress(self, name: str) -> Progress:
        items = self.items()
        sha = {it.key: it.row["png_sha256"] for it in items.values()}
        with closing(self._connect()) as conn:
            done = {k for k, s in conn.execute("SELECT key, item_sha256 FROM lens_answers WHERE judge = ? AND prompt_version = ?",
                                               (HUMAN_PREFIX + name, PROMPT_VERSION)) if sha.get(k) == s}
        order = self.order(name, items)
        nxt = next((it for it in order if it.key not in done), None)
        return Progress(nxt, sum(1 for it in order if it.key in done), len(order))  # type: ignore[arg-type]

    def question(self, item: LensItem) -> str:
        return QUESTION

    def image(self, item_id: str) -> bytes | None:
        """The marked image of one item, found through the manifest only; None if unknown, gone or changed."""
        item = self.items().get(item_id)
        if item is None:
            return None
        name = Path(item.row["png"]).name  # a file name in the folder, whatever the manifest says
        try:
            data = (self.folder / name).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == item.row["png_sha256"] else None

    # -- answers -------------------------------------------------------------------------------
    def record(self, name: str, item_id: str, chosen: list[str] | None) -> dict[str, Any] | None:
        """Store one answer: ``chosen`` the ticked candidates (as shown), ``None`` for "none of these".
        Returns the stored row, None when the id is no item (any more); ValueError (a sentence for the
        annotator) when nothing is ticked or a word is not one of the item's candidates."""
        item = self.items().get(item_id)
        if item is None:
            return None
        if chosen is not None:
            offered = item.choices
            bad = [c for c in chosen if c not in offered]
            if bad:
                raise ValueError("Tick only the words shown for this image.")
            chosen = [c for c in offered if c in set(chosen)]
            if not chosen:
                raise ValueError("Tick the words that describe the box, or choose \u201cnone of these\u201d.")
        row = {"key": item.key, "judge": HUMAN_PREFIX + name, "prompt_version": PROMPT_VERSION,
               "item_sha256": item.row["png_sha256"], "interpretable": int(bool(chosen)),
               "chosen": json.dumps(chosen or [], ensure_ascii=False), "candidates": item.row["candidates"],
               "created_at": time.time()}
        with self._tx() as conn:
            conn.execute(f"INSERT OR REPLACE INTO lens_answers ({', '.join(ANSWER_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(ANSWER_COLUMNS))})", [row[c] for c in ANSWER_COLUMNS])
        if self.on_answer is not None:
            self.on_answer(name, self.progress(name))
        return row

    def answers(self) -> list[dict[str, Any]]:
        with closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM lens_answers ORDER BY created_at")]


class _Tx:
    """``with``: one ``BEGIN IMMEDIATE`` transaction on a fresh connection, committed or rolled back, closed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.conn.close()
