"""In-flight claims in the request store: two runs sharing one store never pay twice for one key.

Before a process sends a request it claims its key in the store's ``claims`` table: one row per key
with the owner (host, pid and a per-process token) and a time it lapses. A second process that
finds a live claim by another owner does not send: it waits (bounded) for the first one's answer
to land in the store and uses it. A claim ends when its owner stores the answer or gives up
(`release`), when its owner's process is gone (same host: checked with ``kill(pid, 0)``), or when it
lapses (`ttl` seconds; the owner renews it at every attempt). So a crash never blocks a key for
longer than one `ttl`.

Example:
    >>> import sqlite3
    >>> conn = sqlite3.connect(":memory:", isolation_level=None)
    >>> conn.execute(SCHEMA) and None
    >>> a, b = Owner.here(), Owner("elsewhere", 1, "t")
    >>> claim(conn, "k", a, ttl=60), claim(conn, "k", b, ttl=60)
    (True, False)
    >>> release(conn, "k", a); claim(conn, "k", b, ttl=60)
    True
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass

__all__ = ["SCHEMA", "Owner", "claim", "claim_many", "process_alive", "release"]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, host TEXT, pid INTEGER, token TEXT, until REAL)"
)


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: a host, a process and a token (new in every process, so a reused pid is not
    taken for the old owner)."""

    host: str
    pid: int
    token: str

    @classmethod
    def here(cls) -> Owner:
        """This process."""
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])


def process_alive(pid: int) -> bool:
    """True unless no process `pid` exists on this machine (one owned by another user counts as alive).

    Example:
        >>> process_alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, TypeError):  # exists but not ours, or not a pid we can ask about
        return True
    return True


def _alive(host: str, pid: int) -> bool:
    if host != socket.gethostname():
        return True  # another machine: only the lapse time can end its claim
    return process_alive(pid)


def claim(conn: sqlite3.Connection, key: str, me: Owner, ttl: float) -> bool:
    """Claim `key` for `me` for `ttl` seconds (or renew my claim); False while another live owner holds it."""
    now = time.time()
    upsert = ("INSERT INTO claims VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET host=excluded.host, "
              "pid=excluded.pid, token=excluded.token, until=excluded.until WHERE claims.until < ? OR "
              "claims.token = excluded.token")  # fmt: skip
    cur = conn.execute(upsert, (key, me.host, me.pid, me.token, now + ttl, now))
    if cur.rowcount == 1:
        return True
    row = conn.execute("SELECT host, pid, token FROM claims WHERE key=?", (key,)).fetchone()
    if row is None or not _alive(row[0], row[1]):  # released meanwhile, or its owner died: take it over
        conn.execute("DELETE FROM claims WHERE key=? AND token IS ?", (key, row[2] if row else None))
        return conn.execute(upsert, (key, me.host, me.pid, me.token, now + ttl, now)).rowcount == 1
    return False


def claim_many(conn: sqlite3.Connection, keys: list[str], me: Owner, ttl: float) -> list[bool]:
    """`claim` for several keys in one write transaction (one commit, not one per key).

    Example: ``claim_many(conn, ["k1", "k2"], me, ttl=60)`` → ``[True, True]``.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        got = [claim(conn, key, me, ttl) for key in keys]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return got


def release(conn: sqlite3.Connection, key: str, me: Owner) -> None:
    """End my claim on `key` (nothing happens if another owner holds it now)."""
    conn.execute("DELETE FROM claims WHERE key=? AND token=?", (key, me.token))
