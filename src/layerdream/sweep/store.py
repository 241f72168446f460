"""The RUN database: one SQLite file per sweep, the single source of truth for what is done.

Why SQLite: a finished job is one row committed in one transaction, so a SIGKILL at any moment
leaves either the whole row or none of it (WAL journal), and the primary key on the job key means a
job can never be recorded twice, even if two processes race. Images are written atomically *before*
their row is committed; an image without a row is simply remade on resume.

The settings that change what an image means (model, preset, steps, dtype, concept set, controls)
are stored once; opening the RUN with other settings is refused instead of mixing results. They are
compared in canonical form (``settings.canonical_settings``): a flag that repeats the preset's own
value is no difference.

Verdicts are only ever *replaced*, pair by pair, in the transaction that inserts their successors
(:meth:`Store.replace_verdicts`): a re-judge that dies half-way (server down, a missing image) leaves
every verdict it did not yet redo as it was.

Over 400 lines because the schema, every statement that reads or writes it, and the checks on what a
RUN holds (its settings, its recorded image paths) change together: all the SQL is in this one file.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from ..errors import UserError
from .settings import canonical_settings

DB_NAME = "sweep.sqlite"
SCHEMA_VERSION = 1
# Settings that may grow between invocations with --extend (a union), all others must match exactly.
EXTENDABLE = ("layers", "seeds", "arms")
# The judge id of a person's verdicts (``human:<name>``, written by ``layerdream annotate``): human
# verdicts are verdicts like any other in this store, told apart by their judge id alone.
HUMAN_PREFIX = "human:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, concept TEXT NOT NULL, category TEXT NOT NULL,
    source TEXT NOT NULL, layer INTEGER NOT NULL, seed INTEGER NOT NULL,
    image_path TEXT NOT NULL, image_sha256 TEXT NOT NULL,
    cosine_initial REAL, cosine_final REAL, seconds REAL, finished_at REAL NOT NULL, extra TEXT);
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT NOT NULL, protocol TEXT NOT NULL, query_index INTEGER NOT NULL, judge TEXT NOT NULL,
    prompt_version TEXT NOT NULL, concept TEXT NOT NULL, answer TEXT, score INTEGER, error TEXT,
    grader TEXT, image_sha256 TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (key, protocol, query_index, judge, prompt_version));
"""

# A control image's answers graded against every label of its category (the judge's base rate there);
# created on first use, so RUNs from before it keep working read-only.
_LABEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS label_scores (
    key TEXT NOT NULL, protocol TEXT NOT NULL, query_index INTEGER NOT NULL, judge TEXT NOT NULL,
    prompt_version TEXT NOT NULL, label TEXT NOT NULL, score INTEGER, error TEXT, grader TEXT,
    image_sha256 TEXT, created_at REAL NOT NULL,
    PRIMARY KEY (key, protocol, query_index, judge, prompt_version, label));
"""

RESULT_COLUMNS = ("key", "kind", "concept", "category", "source", "layer", "seed", "image_path",
                  "image_sha256", "cosine_initial", "cosine_final", "seconds", "finished_at", "extra")
VERDICT_COLUMNS = ("key", "protocol", "query_index", "judge", "prompt_version", "concept", "answer",
                   "score", "error", "grader", "image_sha256", "created_at")
LABEL_COLUMNS = ("key", "protocol", "query_index", "judge", "prompt_version", "label", "score", "error", "grader",
                 "image_sha256", "created_at")


class Store:
    """Thin wrapper over the RUN's SQLite file; every write is its own transaction."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection):
        self.run_dir = run_dir
        self.conn = conn

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, run_dir: str | Path, settings: dict[str, Any], extend: bool = False,
                       default_dtype: str | None = None) -> "Store":
        """Open RUN for a sweep with ``settings``; first use records them, later uses must agree."""
        run_dir = Path(run_dir)
        store = cls(run_dir, _connect(run_dir / DB_NAME))
        stored = store.get_meta("settings")
        if stored is None:
            store.set_meta("schema_version", SCHEMA_VERSION)
            store.set_meta("created_at", time.time())
            store.set_meta("settings", settings)
            return store
        merged = check_settings(stored, settings, extend, run_dir, default_dtype)
        if merged != stored:
            store.set_meta("settings", merged)
        return store

    @classmethod
    def open_existing(cls, run_dir: str | Path, readonly: bool = False, probe: bool = True) -> "Store":
        """Open a RUN made by ``layerdream sweep`` (for judge/report); UserError if it is not one.

        ``readonly`` (report): a RUN on a read-only file system or medium is still readable; SQLite
        cannot open a WAL database there in the normal way, so we fall back to ``immutable=1``
        (safe: nothing can write to a read-only file system). Otherwise the RUN must take a write
        (:meth:`require_writable`; ``probe=False`` skips that for a caller that checked it once)."""
        run_dir = Path(run_dir)
        db = run_dir / DB_NAME
        if not run_dir.is_dir():
            raise UserError(f"RUN {str(run_dir)!r} does not exist or is not a folder; give the --out of a `layerdream sweep`")
        if not db.is_file():
            raise UserError(f"RUN {str(run_dir)!r} has no {DB_NAME}; it is not a sweep folder (run `layerdream sweep --out {run_dir}` first)")
        modes = ["mode=ro", "immutable=1"] if readonly else ["mode=rw"]
        for i, mode in enumerate(modes):
            try:
                conn = sqlite3.connect(f"file:{db}?{mode}", uri=True, timeout=30, isolation_level=None)
                conn.execute("SELECT value FROM meta WHERE key='settings'").fetchone()
                break
            except sqlite3.Error as err:
                if i + 1 < len(modes) and "unable to open" in str(err):
                    continue
                if not readonly and "unable to open" in str(err) and not os.access(run_dir, os.W_OK):
                    raise UserError(f"RUN {str(run_dir)!r} is read-only here; this command stores its results "
                                    "(verdicts, answers) in RUN: copy RUN to a writable place first") from None
                raise UserError(f"RUN {str(run_dir)!r}: cannot read {DB_NAME} ({err}); check permissions or that it is a sweep folder") from None
        conn.row_factory = sqlite3.Row
        store = cls(run_dir, conn)
        if store.get_meta("settings") is None:
            conn.close()
            raise UserError(f"RUN {str(run_dir)!r}: {DB_NAME} has no settings; it was never started by `layerdream sweep`")
        if not readonly and probe:
            store.require_writable()
        return store

    def require_writable(self) -> None:
        """UserError now, in one line, unless this RUN can take a write (verdicts, answers, images).

        Opening is not proof: with a ``-wal`` file left beside the database, SQLite opens a RUN on a
        read-only file system (or a database file it may not write) without complaint and fails only at
        the first write, which in ``annotate`` is the annotator's first answer. So take the write lock
        once (a no-op ``UPDATE`` in a transaction rolled back at once) and check the folder, before any work."""
        problem = None
        if not os.access(self.run_dir, os.W_OK | os.X_OK):
            problem = "the folder is not writable"
        else:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:  # a no-op write: BEGIN alone succeeds on a read-only connection
                    self.conn.execute("UPDATE meta SET value=value WHERE key='settings'")
                finally:
                    self.conn.execute("ROLLBACK")
            except sqlite3.Error as err:
                problem = str(err)
        if problem is not None:
            self.conn.close()
            raise UserError(f"RUN {str(self.run_dir)!r} is read-only here ({problem}); this command stores its results "
                            "(verdicts, answers) in RUN: copy RUN to a writable place first (`layerdream report` "
                            "reads a read-only RUN)")

    @classmethod
    def peek_settings(cls, run_dir: str | Path) -> dict[str, Any] | None:
        """The settings stored in RUN, read without creating or changing anything; None if RUN is no sweep yet."""
        db = Path(run_dir) / DB_NAME
        if not db.is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key='settings'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as err:
            if "no such table" in str(err):
                return None
            raise UserError(f"RUN {str(run_dir)!r}: cannot read {DB_NAME} ({err}); use another --out folder") from None
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except (TypeError, ValueError):
            raise UserError(f"RUN {str(run_dir)!r}: the settings in {DB_NAME} are not valid JSON (a damaged or edited "
                            f"database); restore {DB_NAME} from a copy, or use another --out folder") from None

    def close(self) -> None:
        self.conn.close()

    # -- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except (TypeError, ValueError):
            raise UserError(f"RUN {str(self.run_dir)!r}: the {key!r} entry of {DB_NAME} is not valid JSON (a damaged or "
                            f"edited database); restore {DB_NAME} from a copy") from None

    def set_meta(self, key: str, value: Any) -> None:
        with _tx(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- results ---------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT key FROM results")}

    def add_result(self, row: dict[str, Any]) -> bool:
        """Record one finished job; returns False (and changes nothing) if it was already recorded."""
        row = {**row, "finished_at": row.get("finished_at", time.time())}
        if isinstance(row.get("extra"), (dict, list)):
            row["extra"] = json.dumps(row["extra"])
        values = [row.get(col) for col in RESULT_COLUMNS]
        with _tx(self.conn):
            cur = self.conn.execute(
                f"INSERT OR IGNORE INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({', '.join('?' * len(RESULT_COLUMNS))})",
                values)
        return cur.rowcount == 1

    def forget_results(self, keys: Iterable[str]) -> int:
        """Drop the rows of jobs whose image is gone or changed, so the sweep makes them again."""
        keys = list(keys)
        with _tx(self.conn):
            n = sum(self.conn.execute("DELETE FROM results WHERE key=?", (k,)).rowcount for k in keys)
        return n

    def results(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(RESULT_COLUMNS)} FROM results ORDER BY layer, seed, kind, concept, source")
        return [dict(zip(RESULT_COLUMNS, row)) for row in cur]

    # -- verdicts --------------------------------------------------------------------------------
    def add_verdicts(self, rows: Iterable[dict[str, Any]], replace: bool = False) -> int:
        """Store verdicts in one transaction; ``replace`` overwrites (re-judging), else existing ones win."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        n = 0
        with _tx(self.conn):
            for row in rows:
                row = {**row, "created_at": row.get("created_at", time.time())}
                cur = self.conn.execute(
                    f"{verb} INTO verdicts ({', '.join(VERDICT_COLUMNS)}) VALUES ({', '.join('?' * len(VERDICT_COLUMNS))})",
                    [row.get(col) for col in VERDICT_COLUMNS])
                n += cur.rowcount
        return n

    def replace_verdicts(self, judge: str, pairs: Iterable[tuple[str, str]], rows: Iterable[dict[str, Any]],
                         label_rows: Iterable[dict[str, Any]] = ()) -> int:
        """In ONE transaction: drop ``judge``'s verdicts (and label scores) for the (job key, protocol)
        ``pairs`` (any prompt version) and insert ``rows`` and ``label_rows``, their successors. Nothing is
        deleted before its replacement exists. Returns the verdict rows written."""
        n = 0
        self.conn.executescript(_LABEL_SCHEMA)  # a RUN from before label scores gets the table on its first judge
        with _tx(self.conn):
            for key, protocol in pairs:
                self.conn.execute("DELETE FROM verdicts WHERE judge=? AND key=? AND protocol=?", (judge, key, protocol))
                self.conn.execute("DELETE FROM label_scores WHERE judge=? AND key=? AND protocol=?", (judge, key, protocol))
            for row in label_rows:
                row = {**row, "created_at": row.get("created_at", time.time())}
                self.conn.execute(
                    f"INSERT OR REPLACE INTO label_scores ({', '.join(LABEL_COLUMNS)}) VALUES ({', '.join('?' * len(LABEL_COLUMNS))})",
                    [row.get(col) for col in LABEL_COLUMNS])
            for row in rows:
                row = {**row, "created_at": row.get("created_at", time.time())}
                cur = self.conn.execute(
                    f"INSERT OR REPLACE INTO verdicts ({', '.join(VERDICT_COLUMNS)}) VALUES ({', '.join('?' * len(VERDICT_COLUMNS))})",
                    [row.get(col) for col in VERDICT_COLUMNS])
                n += cur.rowcount
        return n

    def verdicts(self, judge: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(VERDICT_COLUMNS)} FROM verdicts"
        cur = self.conn.execute(sql + (" WHERE judge=?" if judge else ""), (judge,) if judge else ())
        return [dict(zip(VERDICT_COLUMNS, row)) for row in cur]

    def _has_label_table(self) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='label_scores'").fetchone() is not None

    def label_scores(self, judge: str | None = None) -> list[dict[str, Any]]:
        """Control answers graded against every label of their category (empty for RUNs judged before)."""
        if not self._has_label_table():
            return []
        sql = f"SELECT {', '.join(LABEL_COLUMNS)} FROM label_scores"
        cur = self.conn.execute(sql + (" WHERE judge=?" if judge else ""), (judge,) if judge else ())
        return [dict(zip(LABEL_COLUMNS, row)) for row in cur]

    def judges(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT judge FROM verdicts GROUP BY judge ORDER BY MAX(created_at) DESC")]


def image_file(run_dir: Path, rel: str) -> Path | None:
    """``RUN/rel`` if it names a place inside RUN, else None.

    A RUN can come from someone else, and its database is just a file: a recorded ``image_path`` of
    ``/etc/passwd`` or ``../../.ssh/id_rsa`` must never make judge, report or annotate read (and send,
    embed or serve) one of this machine's files."""
    root = Path(run_dir).resolve()
    try:
        path = (root / rel).resolve()
    except (OSError, RuntimeError, ValueError, TypeError):
        return None
    return path if path != root and path.is_relative_to(root) else None


def image_problem(run_dir: Path, row: dict[str, Any]) -> str | None:
    """Why the recorded image of ``row`` cannot be used (outside RUN, missing, changed), or None if it is
    the very file the sweep recorded (its sha256 matches)."""
    import hashlib

    path = image_file(run_dir, row["image_path"])
    if path is None:
        return "outside RUN"
    try:
        data = path.read_bytes()
    except OSError:
        return "missing"
    return None if hashlib.sha256(data).hexdigest() == row["image_sha256"] else "changed since the sweep recorded it"


def is_human(judge_id: str | None) -> bool:
    """True for the verdicts of a human annotator (judge ``human:<name>``)."""
    return bool(judge_id) and str(judge_id).startswith(HUMAN_PREFIX)


def _shown(value: Any) -> str:
    """A setting as the refusal names it: None is a flag left out (the default), not the word None."""
    return "the default (not given)" if value is None else repr(value)


def check_settings(stored: dict[str, Any], new: dict[str, Any], extend: bool, run_dir: Path,
                   default_dtype: str | None = None) -> dict[str, Any]:
    """Return the settings to keep, or raise a one-line UserError naming the first mismatch.

    Both sides are compared in canonical form, so ``--steps 80`` on a ``fast`` RUN is the RUN's own setting,
    and ``--dtype float32`` on a CPU RUN made without ``--dtype`` is its own dtype (``default_dtype``)."""
    stored, new = canonical_settings(stored, default_dtype), canonical_settings(new, default_dtype)
    for key in sorted(set(stored) | set(new)):
        if key in EXTENDABLE:
            continue
        if stored.get(key) != new.get(key):
            raise UserError(
                f"RUN {str(run_dir)!r} was made with {key}={_shown(stored.get(key))}, not {_shown(new.get(key))}; "
                f"use a new --out folder (results with different settings are never mixed)")
    merged = dict(stored)
    for key in EXTENDABLE:
        old, want = list(stored.get(key, [])), list(new.get(key, []))
        if sorted(old) == sorted(want):
            continue
        if not extend:
            raise UserError(
                f"RUN {str(run_dir)!r} was made with {key}={old}, not {want}; add --extend to add "
                f"{key} to this RUN, or use a new --out folder")
        merged[key] = sorted(set(old) | set(want))
    return merged


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA + _LABEL_SCHEMA)
    except sqlite3.Error as err:
        if is_disk_full(err):
            from ..io import disk_full

            raise disk_full(path) from None
        raise UserError(f"cannot open {str(path)!r} ({err}); check the --out folder") from None
    conn.row_factory = sqlite3.Row
    return conn


def is_disk_full(err: BaseException) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full"), or an OSError of a full disk or quota."""
    import errno

    if isinstance(err, sqlite3.OperationalError):
        return "disk is full" in str(err) or getattr(err, "sqlite_errorcode", None) == 13  # SQLITE_FULL
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


class _tx:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK): one explicit transaction, independent of sqlite3's autocommit rules.

    A full disk is one UserError (the transaction is rolled back: nothing of it is stored, and nothing
    committed before is lost)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            if is_disk_full(err):
                raise self._full() from None
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite may have rolled back already (SQLITE_FULL does)
            if exc is not None and is_disk_full(exc):
                raise self._full() from None
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if not is_disk_full(err):
                raise
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise self._full() from None

    def _full(self) -> UserError:
        from ..io import disk_full

        path = self.conn.execute("PRAGMA database_list").fetchone()[2] or "the RUN database"
        return disk_full(path)
