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

__all__ = ["COLUMNS", "Repair", "check", "locked", "repair"]

COLUMNS = "key, text, finish_reason, prompt_tokens, completion_tokens, attempts, created"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
    "finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, attempts INTEGER, created REAL)"
)


@dataclass(frozen=True)
class Repair:
    """What `repair` did: the `problem` found (None: healthy, nothing done), where the damaged files
    went (`moved_to`) and how many replies were `recovered` into the new store."""

    problem: str | None
    moved_to: Path | None = None
    recovered: int = 0


def check(path: str | os.PathLike) -> str | None:
    """None when the store at `path` is healthy (or absent), else SQLite's reason in one line."""
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
        return None
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


def repair(path: str | os.PathLike) -> Repair:
    """If the store at `path` is damaged: move it aside, start a new one there and copy every
    readable reply into it. Call with `locked(path)` held when other processes may open it."""
    path = Path(path)
    problem = check(path)
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
    insert = f"INSERT OR IGNORE INTO replies ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    into.execute("BEGIN")
    into.executemany(insert, list(found.values()))
    into.execute("COMMIT")
    return len(found)
