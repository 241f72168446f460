"""A small SQLite cache so that re-judging costs nothing.

Two tables, because answering and grading are separate costs:

* ``answers``: keyed by (image sha256, concept, judge id, prompt version, protocol, query index, prompt
  text). The prompt text is in the key too because the lenient prompt depends on the category wording
  and the clip "prompt" names its candidate set; same version, different question -> not a hit.
* ``grades``: keyed by (grader id, grader version, request, response, concept). Ten identical "Dog"
  answers are graded once, and switching graders never re-queries the judge.

Only successes are stored: a failed query is retried on the next run. Nothing secret is stored (ids
carry no keys; tests grep the file for the API key).
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Iterable

from ..errors import UserError
from ..io import disk_full
from .types import Answer, Grade

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  image_sha256 TEXT, concept TEXT, judge TEXT, prompt_version TEXT, protocol TEXT, query_index INTEGER,
  prompt TEXT, answer TEXT, score INTEGER, rank INTEGER, created REAL,
  PRIMARY KEY (image_sha256, concept, judge, prompt_version, protocol, query_index, prompt));
CREATE TABLE IF NOT EXISTS grades (
  grader TEXT, grader_version TEXT, request TEXT, response TEXT, concept TEXT, score INTEGER, raw TEXT,
  created REAL, PRIMARY KEY (grader, grader_version, request, response, concept));
"""

def _full(err: BaseException) -> bool:
    return "disk is full" in str(err) or getattr(err, "sqlite_errorcode", None) == 13  # SQLITE_FULL


AnswerKey = tuple[str, str, str, str, str, int, str]
GradeKey = tuple[str, str, str, str, str]


class VerdictCache:
    """Context manager around one SQLite file (created with its folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise UserError(f"verdict cache {str(path)!r} is a folder; give --cache a file name, "
                            f"e.g. {str(self.path / 'judge_cache.sqlite')!r}")
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\0":  # never turn a user's file into a cache (or fail inside SQLite)
                    raise UserError(f"verdict cache {str(path)!r} exists and is not a verdict cache (not an SQLite database); "
                                    "give --cache a new file name (it is never overwritten)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=30)
        except (OSError, sqlite3.Error) as err:
            raise UserError(f"cannot open the verdict cache {str(path)!r} ({getattr(err, 'strerror', None) or err}); "
                            "give a --cache in a folder you can write to") from None
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            self.conn.close()
            if _full(err):
                raise disk_full(self.path) from None
            raise UserError(f"cannot use the verdict cache {str(path)!r} ({err}); it must be a layerdream verdict cache "
                            "in a writable folder (delete it to start a new one)") from None

    def _write(self, sql: str, rows: list[tuple]) -> None:
        """One transaction; a full disk is one UserError (the answers stay in the verdicts being stored)."""
        try:
            with self.conn:
                self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as err:
            if _full(err):
                raise disk_full(self.path) from None
            raise

    def __enter__(self) -> "VerdictCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def get_answers(self, keys: Iterable[AnswerKey]) -> dict[AnswerKey, Answer]:
        out: dict[AnswerKey, Answer] = {}
        for key in keys:
            row = self.conn.execute(
                "SELECT answer, score, rank FROM answers WHERE image_sha256=? AND concept=? AND judge=? AND "
                "prompt_version=? AND protocol=? AND query_index=? AND prompt=?",
                key,
            ).fetchone()
            if row is not None:
                out[key] = Answer(text=row[0], score=row[1], rank=row[2])
        return out

    def put_answers(self, pairs: Iterable[tuple[AnswerKey, Answer]]) -> None:
        now = time.time()
        rows = [(*k, a.text, a.score, a.rank, now) for k, a in pairs if a.error is None]
        self._write("INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

    def get_grades(self, keys: Iterable[GradeKey]) -> dict[GradeKey, Grade]:
        out: dict[GradeKey, Grade] = {}
        for key in keys:
            row = self.conn.execute(
                "SELECT score, raw FROM grades WHERE grader=? AND grader_version=? AND request=? AND response=? AND concept=?",
                key,
            ).fetchone()
            if row is not None:
                out[key] = Grade(score=row[0], raw=row[1])
        return out

    def put_grades(self, pairs: Iterable[tuple[GradeKey, Grade]]) -> None:
        now = time.time()
        rows = [(*k, g.score, g.raw, now) for k, g in pairs if g.error is None and g.score is not None]
        self._write("INSERT OR REPLACE INTO grades VALUES (?,?,?,?,?,?,?,?)", rows)
