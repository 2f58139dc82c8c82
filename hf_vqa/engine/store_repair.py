"""Checking and repairing the request store (`store.py`): a damaged file is moved aside, never used.

A store can be damaged by a truncated copy, a full disk in the middle of a checkpoint or a file
written over. `check` says what is wrong (SQLite's ``quick_check``); `repair` moves the damaged
files aside (``replies.sqlite.damaged-<time>``, its ``-wal`` beside it) and copies every reply that
can still be read (`store_pages`: straight from its pages) into a fresh store, so a rerun pays only for what was really lost.
``build_dataset.py store --check`` / ``--repair`` run them from the command line.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "replies.sqlite").write_bytes(b"not a database" * 100)
    1400
    >>> check(folder / "replies.sqlite")
    'file is not a database'
    >>> repair(folder / "replies.sqlite").recovered
    0
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hf_vqa.engine import store_pages

__all__ = ["COLUMNS", "Repair", "check", "locked", "repair", "row_problem", "shape_problem"]

COLUMNS = "key, text, finish_reason, prompt_tokens, completion_tokens, attempts, created"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
    "finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, attempts INTEGER, created REAL)"
)


NAMES = tuple(c.strip() for c in COLUMNS.split(","))


def row_problem(values: tuple) -> str | None:
    """Why a stored `(text, finish_reason, prompt_tokens, completion_tokens, attempts)` is not an answer,
    or None. A row that is not one is treated as absent (asked again), never used.

    Example:
        >>> row_problem(("Q: a? A: b", "stop", 3, 1, 1)) is None
        True
        >>> row_problem(("", "stop", 3, 1, 1)), row_problem(("hi", "stop", "3", 1, 1))
        ('empty text', "prompt_tokens is '3' (str), not a count")
    """
    if len(values) != 5:
        return f"{len(values)} values, not 5"
    text, reason, *counts = values
    if not isinstance(text, str):
        return f"text is {type(text).__name__}, not text (undecodable UTF-8 or a wrong type)"
    if not text.strip():
        return "empty text"
    if reason is not None and not isinstance(reason, str):
        return f"finish_reason is {type(reason).__name__}, not text"
    for name, value in zip(("prompt_tokens", "completion_tokens", "attempts"), counts):
        if value is not None and (type(value) is not int or value < 0):
            return f"{name} is {str(value)[:20]!r} ({type(value).__name__}), not a count"
    return None


def shape_problem(conn: sqlite3.Connection) -> str | None:
    """Why the ``replies`` table at `conn` has not the shape this version reads and writes, or None
    (also None when there is no such table yet)."""
    found = [(row[1], (row[2] or "").upper(), row[5]) for row in conn.execute("PRAGMA table_info(replies)")]
    if not found:
        return None
    names = tuple(name for name, _kind, _pk in found)
    if names != NAMES:
        return f"the replies table has columns {list(names)}, not {list(NAMES)}"
    if found[0][2] != 1:
        return "the replies table's key is not its primary key (one key could hold several answers)"
    return None


@dataclass(frozen=True)
class Repair:
    """What `repair` did: the `problem` found (None: healthy, nothing done), where the damaged files
    went (`moved_to`) and how many replies were `recovered` into the new store."""

    problem: str | None
    moved_to: Path | None = None
    recovered: int = 0


def check(path: str | os.PathLike, *, shape: bool = True) -> str | None:
    """None when the store at `path` is healthy (or absent), else SQLite's reason in one line; with
    `shape`, a ``replies`` table of another shape is a problem too."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    except sqlite3.Error as err:
        return str(err)
    try:
        result = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
        if result != ["ok"]:
            return "; ".join(result)[:300]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "replies" not in tables:
            return f"not a reply store (tables: {sorted(tables)})"
        return shape_problem(conn) if shape else None
    except sqlite3.DatabaseError as err:
        return str(err)
    finally:
        conn.close()


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (so two processes never repair the same store)."""
    with open(f"{path}.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def repair(path: str | os.PathLike, *, shape: bool = True) -> Repair:
    """If the store at `path` is damaged (or, with `shape`, its replies table has another shape): move
    it aside, start a new one there and copy every readable reply into it. Call with `locked(path)`
    held when other processes may open it."""
    path = Path(path)
    problem = check(path, shape=shape)
    if problem is None:
        return Repair(None)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(SCHEMA)
        recovered = _salvage(aside, conn)
    finally:
        conn.close()
    return Repair(problem, aside, recovered)


def _salvage(damaged: Path, into: sqlite3.Connection) -> int:
    """Copy every reply that can still be read from the pages of `damaged` (and its WAL) into `into`."""
    try:
        data = damaged.read_bytes()
        wal = Path(f"{damaged}-wal").read_bytes() if Path(f"{damaged}-wal").exists() else b""
    except OSError:
        return 0
    found = {record[0]: record for record in store_pages.rows(data, wal)}  # by key: the last one wins
    found.update({record[0]: record for record in _by_name(damaged)})
    found = {k: r for k, r in found.items() if row_problem(tuple(r[1:6])) is None}  # answers only
    insert = f"INSERT OR IGNORE INTO replies ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    into.execute("BEGIN")
    into.executemany(insert, list(found.values()))
    into.execute("COMMIT")
    return len(found)


def _by_name(store: Path) -> list[tuple]:
    """The replies of a readable store whose table has another shape, read by column name (a column
    it lacks reads as NULL); [] when it cannot be read or has no key and text."""
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(replies)")}
        if not {"key", "text"} <= have:
            return []
        cols = ", ".join(name if name in have else "NULL" for name in NAMES)
        return [tuple(r) for r in conn.execute(f"SELECT {cols} FROM replies") if isinstance(r[0], str)]
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def bad_rows(conn: sqlite3.Connection, limit: int = 3) -> tuple[int, list[str]]:
    """(how many stored rows are not answers, up to `limit` of them as ``key: why``)."""
    count, shown = 0, []
    for row in conn.execute(
        "SELECT key, text, finish_reason, prompt_tokens, completion_tokens, attempts FROM replies"
    ):
        why = row_problem(tuple(row[1:]))
        if why is not None:
            count += 1
            if len(shown) < limit:
                shown.append(f"{str(row[0])[:16]}: {why}")
    return count, shown


def drop_bad_rows(conn: sqlite3.Connection) -> int:
    """Delete the stored rows that are not answers (they would be asked again anyway); how many."""
    keys = [row[0] for row in conn.execute("SELECT key, text, finish_reason, prompt_tokens, completion_tokens, "
                                           "attempts FROM replies") if row_problem(tuple(row[1:])) is not None]  # fmt: skip
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("DELETE FROM replies WHERE key=?", [(k,) for k in keys])
    conn.execute("COMMIT")
    return len(keys)


def text_or_bytes(raw: bytes) -> str | bytes:
    """SQLite's text as str, or the raw bytes when they are not UTF-8 (`row_problem` then refuses them)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


__all__ += ["bad_rows", "drop_bad_rows", "text_or_bytes"]
