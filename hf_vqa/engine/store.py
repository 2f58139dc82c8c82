"""A durable per-request store, so no paid request is ever sent twice.

`datasets`' Arrow cache keeps only finished `num_proc` shards. This store keeps every finished reply
the moment it arrives: SQLite in WAL mode, one row per request key (a hash of endpoint, model,
params and messages with image hashes; never the API key). Failed requests are not stored, so a
rerun retries only them.

The store keeps the first answer to a key: an answer is never replaced by another (a conflict is
logged), and every row read back is validated (`store_repair.row_problem`): one that is not an
answer (empty text, wrong types, undecodable text) is treated as absent and asked again, with a
warning. A ``replies`` table of another shape stops the run with what to do (``store --repair``).
Keys being asked right now are claimed (`store_leases.py`), so two runs sharing a store wait for each
other's answer instead of paying twice.

A damaged store is found when it is opened, moved aside with a one-line warning and replaced by a
new one holding every reply that could still be read (`store_repair.py`). A store that cannot be
written (a full disk) never costs a reply: the reply still reaches the output, and a one-line warning
says the store is failing.

Location: `config.cache_folder(cache_dir)` (`$HF_VQA_CACHE`, else `$HF_HOME/hf_vqa`, else
`~/.cache/huggingface/hf_vqa`; `cache_dir` overrides it). Size: about the reply text plus ~150 bytes per request. Clear it by
deleting `replies.sqlite*` there, or skip it with `VLM(use_store=False)` / `--no-cache`.

Example:
    >>> import tempfile
    >>> s = Store(tempfile.mkdtemp())
    >>> s.put("k", StoredReply(text="hi", finish_reason="stop", prompt_tokens=3, completion_tokens=1, attempts=1))
    True
    >>> s.get("k").text
    'hi'
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hf_vqa.config import cache_folder
from hf_vqa.engine import redaction, store_leases
from hf_vqa.engine.outcomes import Reply
from hf_vqa.engine.store_repair import SCHEMA, locked, repair, row_problem, shape_problem, text_or_bytes
from hf_vqa.errors import ConfigError, one_line

FILENAME = "replies.sqlite"
# A model's reasoning (`thinking.py`), kept beside its reply; its own table, so the `replies` schema
# that `store_repair.py` recovers stays as it is (a repaired store keeps the answers, not the reasoning).
REASONING_SCHEMA = "CREATE TABLE IF NOT EXISTS reasoning (key TEXT PRIMARY KEY, text TEXT NOT NULL)"


class _Connection(sqlite3.Connection):
    """A plain connection that `close_all` can find (sqlite3's own cannot be weakly referenced)."""


# each connection `connect` opened -> the thread that opened it (every user here keeps one per thread)
_OPENED: weakref.WeakKeyDictionary[_Connection, threading.Thread] = weakref.WeakKeyDictionary()


def close_all(wait: float = 1.0) -> None:
    """Close the connections `connect` opened, as the interpreter's teardown would (the last one to a
    file moves its write-ahead log into it). One opened by another thread is closed only once that
    thread has ended (waiting up to `wait` seconds in all: a stopped engine's loop thread ends at
    once); a thread still running may be using its own, so those stay open. For `cli.main.exit_now`,
    which ends the process without that teardown."""
    here, deadline = threading.current_thread(), time.monotonic() + wait
    for conn, opener in list(_OPENED.items()):
        if opener is not here and opener.is_alive():
            opener.join(max(0.0, deadline - time.monotonic()))
        if opener is here or not opener.is_alive():
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def connect(path: str | os.PathLike, timeout: float = 60) -> sqlite3.Connection:
    """Open a SQLite file in WAL mode, autocommit, usable from any thread of this process.

    Switching to WAL takes a lock that SQLite's busy handler does not wait for, so two processes
    opening the same new file at once can see "database is locked": retry that for up to `timeout`.
    """
    conn = sqlite3.connect(
        path, timeout=timeout, isolation_level=None, check_same_thread=False, factory=_Connection
    )
    _OPENED[conn] = threading.current_thread()
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.text_factory = text_or_bytes  # undecodable text reads as bytes (then refused), never raises
    return conn


@dataclass(frozen=True)
class StoredReply:
    """A successful reply, as kept in the store."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int
    reasoning: str | None = None

    @classmethod
    def of(cls, reply: Reply, attempts: int) -> StoredReply:
        """What the store keeps of a successful `reply` that took `attempts` sends."""
        return cls(reply.text or "", reply.finish_reason, reply.prompt_tokens, reply.completion_tokens, attempts,
                   reply.reasoning)  # fmt: skip

    def reply(self) -> Reply:
        """The `Reply` this stored answer stands for (marked `cached`)."""
        return Reply(
            text=self.text,
            finish_reason=self.finish_reason or "",
            prompt_tokens=self.prompt_tokens or 0,
            completion_tokens=self.completion_tokens or 0,
            attempts=self.attempts or 0,
            cached=True,
            reasoning=self.reasoning,
        )


class Store:
    """SQLite-backed map of request key → `StoredReply`. Safe across threads and processes."""

    def __init__(self, cache_dir: str | os.PathLike | None = None) -> None:
        self.dir = cache_folder(cache_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                "cannot create the request store folder",
                received=f"{self.dir}: {err.strerror}",
                fix="pass a writable cache_dir (--cache-dir) or set HF_VQA_CACHE",
            ) from None
        self.path = self.dir / FILENAME
        self._local = threading.local()
        self.failing: str | None = None  # why the last write failed, once one did
        self.bad = self.conflicts = 0  # rows read back that were not answers; answers not replaced
        self._owner = store_leases.Owner.here()
        with locked(self.path):  # one process checks (and repairs) at a time
            done = repair(self.path, shape=False)  # a damaged file; another shape is the user's call
            if done.problem is not None:
                _warn(f"the request store {self.path} was damaged ({done.problem}): moved aside to "
                      f"{done.moved_to.name}; {done.recovered} replies recovered into a new store")  # fmt: skip
            shape = shape_problem(self._conn())
            if shape is not None:
                raise ConfigError(
                    f"the request store {self.path} cannot be used: {shape}",
                    received="a store written by another program or version (its replies cannot be read)",
                    fix="run `build_dataset.py store --repair` (moves it aside and keeps every reply it can "
                    "read), or pass another --cache-dir",
                )
            self._conn().execute(SCHEMA)
            self._conn().execute(REASONING_SCHEMA)
            self._conn().execute(store_leases.SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = connect(self.path)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def state(self) -> tuple[int, int]:
        """`(replies, highest row id)`: changes whenever a reply is added or replaced.

        Example: ``Store("/tmp/c").state()`` → ``(0, 0)`` for a new store.
        """
        row = self._conn().execute("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM replies").fetchone()
        return int(row[0]), int(row[1])

    _SELECT = ("SELECT r.key, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens, r.attempts, t.text "
               "FROM replies r LEFT JOIN reasoning t ON t.key = r.key WHERE r.key")  # fmt: skip

    def get(self, key: str) -> StoredReply | None:
        """The stored reply for `key`, or None (also when the store cannot be read: it is asked again)."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, StoredReply]:
        """`get` for several keys in one SELECT per 500: the keys that hold an answer, with it.

        Example: ``store.get_many(["k1", "k2"])`` → ``{"k1": StoredReply(...)}`` (k2 not answered).
        """
        found: dict[str, StoredReply] = {}
        try:
            conn, unique = self._conn(), list(dict.fromkeys(keys))
            rows = []
            for i in range(0, len(unique), 500):  # well under SQLite's bound on parameters
                part = unique[i : i + 500]
                where = "=?" if len(part) == 1 else f" IN ({','.join('?' * len(part))})"
                rows += conn.execute(self._SELECT + where, part).fetchall()
        except sqlite3.Error as err:
            self._failed("read", err)
            return found
        for key, *row in rows:
            problem = row_problem(tuple(row[:5]))
            if problem is not None:
                self.bad += 1
                if self.bad <= 3:
                    _warn(f"the request store {self.path} holds a row for request {str(key)[:16]} that is not an "
                          f"answer ({problem}): it is asked again{'' if self.bad < 3 else ' (further ones not shown)'}")  # fmt: skip
                continue
            found[key] = StoredReply(*row[:5], reasoning=row[5] if isinstance(row[5], str) else None)
        return found

    def put(self, key: str, reply: StoredReply) -> bool:
        """Store a reply durably (committed before returning). False when the store cannot be written
        (a full disk, a damaged file) or the reply is not an answer: the caller keeps the reply, and a
        warning says so once. Never replaces an answer already stored (see `add`)."""
        return self.add(key, reply) != "failed"

    def add(self, key: str, reply: StoredReply) -> str:
        """Store a reply unless the key already holds an answer: ``"stored"``, ``"kept"`` (the same answer
        was there), ``"conflict"`` (another answer was there: kept, and logged) or ``"failed"``.
        A stored row that is not an answer is replaced. Its reasoning goes in the same transaction, and
        this process's claim on the key ends with it. Every key this process has read is removed from the
        text and reasoning first (`redaction.scrub`): online, streamed and batch answers all pass here."""
        return self.add_many([(key, reply)])[0]

    def add_many(self, items: Sequence[tuple[str, StoredReply]]) -> list[str]:
        """`add` for several replies in one transaction (one commit, not one per reply); each is durable
        when this returns. A batch that cannot be committed is tried again reply by reply.

        Example: ``store.add_many([("k1", reply1), ("k2", reply2)])`` → ``["stored", "stored"]``.
        """
        items = [(key, dataclasses.replace(reply, text=redaction.scrub(reply.text),
                                           reasoning=redaction.scrub(reply.reasoning))) for key, reply in items]  # fmt: skip
        outcomes = ["failed"] * len(items)
        todo = [(i, key, reply) for i, (key, reply) in enumerate(items)
                if row_problem((reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens,
                                reply.attempts)) is None]  # fmt: skip
        if todo:
            try:
                conn = self._conn()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for i, key, reply in todo:
                        outcomes[i] = self._add_in(conn, key, reply)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as err:
                if len(todo) > 1:  # each reply alone: one that can be kept is kept
                    return [self.add(key, reply) for key, reply in items]
                self._failed("write", err)
                return ["failed"] * len(items)
        for (key, _), outcome in zip(items, outcomes):
            if outcome == "conflict":
                self.conflicts += 1
                if self.conflicts <= 3:
                    _warn(f"the request store already holds another answer for request {key[:16]}: kept the first "
                          "one (an answer is never replaced)" + ("" if self.conflicts < 3 else "; further ones not shown"))  # fmt: skip
        return outcomes

    def _add_in(self, conn: sqlite3.Connection, key: str, reply: StoredReply) -> str:
        """Inside an open transaction: write `reply` unless `key` holds an answer; end the claim."""
        old = conn.execute("SELECT text, finish_reason, prompt_tokens, completion_tokens, attempts "
                           "FROM replies WHERE key=?", (key,)).fetchone()  # fmt: skip
        if old is None or row_problem(tuple(old)) is not None:
            if reply.reasoning:
                conn.execute("INSERT OR REPLACE INTO reasoning VALUES (?, ?)", (key, reply.reasoning))
            conn.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens,
                 reply.attempts, time.time()),
            )  # fmt: skip
            outcome = "stored"
        else:
            outcome = "kept" if old[0] == reply.text else "conflict"
        store_leases.release(conn, key, self.owner)  # answered: the claim ends in the same commit
        return outcome

    @property
    def owner(self) -> store_leases.Owner:
        """Who this process is in the claims table (a forked worker that kept this object is itself)."""
        if self._owner.pid != os.getpid():
            self._owner = store_leases.Owner.here()
        return self._owner

    def claim(self, key: str, ttl: float) -> bool:
        """Claim `key` before sending it (`store_leases.claim`); True also when the store cannot say."""
        return self.claim_many([key], ttl)[0]

    def claim_many(self, keys: Sequence[str], ttl: float) -> list[bool]:
        """`claim` for several keys in one transaction (`store_leases.claim_many`)."""
        try:
            return store_leases.claim_many(self._conn(), list(keys), self.owner, ttl)
        except sqlite3.Error:
            return [True] * len(keys)  # never block a run on the claims table: at worst a key is paid twice

    def release(self, key: str) -> None:
        """End this process's claim on `key` (its answer is stored, or it gave up)."""
        with contextlib.suppress(sqlite3.Error):
            store_leases.release(self._conn(), key, self.owner)

    def _failed(self, what: str, err: BaseException) -> None:
        if self.failing is None:
            free = _free_bytes(self.dir)
            _warn(f"the request store {self.path} cannot be {'written' if what == 'write' else 'read'} "
                  f"({err}; {free} free there): replies still reach the output, but a rerun will pay "
                  "for the ones not stored")  # fmt: skip
        self.failing = one_line(f"{what}: {err}")

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def size_bytes(self) -> int:
        """Bytes on disk, WAL included."""
        return sum(p.stat().st_size for p in self.dir.glob(FILENAME + "*") if p.exists())


def _free_bytes(folder: Path) -> str:
    try:
        return f"{os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize:,} bytes"
    except OSError:
        return "unknown bytes"


def _warn(text: str) -> None:
    start = "\r\x1b[K" if sys.stderr.isatty() else "\n"  # on a line of its own, not after a progress bar
    sys.stderr.write(f"{start}warning: {one_line(text, 600)}\n")
    sys.stderr.flush()


_STORES: dict[tuple[int, str], Store] = {}
_LOCK = threading.Lock()


def get_store(cache_dir: str | None) -> Store:
    """The per-process `Store` for `cache_dir` (created lazily, once per process)."""
    key = (os.getpid(), str(cache_folder(cache_dir)))
    with _LOCK:
        if key not in _STORES:
            _STORES[key] = Store(cache_dir)
        return _STORES[key]


__all__ = [
    "FILENAME",
    "Store",
    "StoredReply",
    "close_all",
    "connect",
    "get_store",
]
