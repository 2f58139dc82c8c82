"""Live progress across processes: rows/s, failures, retries, 429s and tokens, in one bar.

Each engine (one per process) publishes its counters twice a second to a small SQLite file named by
`$HF_VQA_PROGRESS`, which the CLI sets. The CLI's `ProgressBar` sums them into one tqdm bar. With the
variable unset (notebooks), nothing is published, and `datasets`' own bar shows progress.

Example:
    >>> with ProgressBar(total=1000, path="/tmp/p.sqlite"):  # doctest: +SKIP
    ...     ds.map(...)
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sqlite3
import threading
import time
from dataclasses import asdict
from typing import Any

from hf_vqa.engine.store import connect
from hf_vqa.engine.store_leases import process_alive

ENV = "HF_VQA_PROGRESS"


def _connect(path: str) -> sqlite3.Connection:
    conn = connect(path, timeout=5)
    conn.execute("CREATE TABLE IF NOT EXISTS progress (pid INTEGER PRIMARY KEY, stats TEXT, updated REAL)")
    return conn


def publish(stats: Any, path: str | None = None) -> None:
    """Write this process's counters (a dataclass) for the CLI's bar. No-op without `$HF_VQA_PROGRESS`."""
    path = path or os.environ.get(ENV)
    if not path:
        return
    try:
        conn = _PUBLISHERS.get((os.getpid(), path))
        if conn is None:
            conn = _PUBLISHERS[(os.getpid(), path)] = _connect(path)
        conn.execute(
            "INSERT OR REPLACE INTO progress VALUES (?, ?, ?)",
            (os.getpid(), json.dumps(asdict(stats)), time.time()),
        )
    except sqlite3.Error:
        pass  # progress is best effort; it never fails a run


_PUBLISHERS: dict[tuple[int, str], sqlite3.Connection] = {}


def totals(path: str) -> dict[str, int]:
    """The counters summed over every process that published to `path`."""
    out: dict[str, int] = {}
    try:
        rows = _connect(path).execute("SELECT stats FROM progress").fetchall()
    except sqlite3.Error:
        return out
    for (text,) in rows:
        for key, value in json.loads(text).items():
            if isinstance(value, int):
                out[key] = out.get(key, 0) + value
    return out


def remove(path: str) -> None:
    """Delete a progress file and its SQLite side files; this process's own connections first."""
    for key in [k for k in _PUBLISHERS if k[1] == path]:
        with contextlib.suppress(sqlite3.Error):
            _PUBLISHERS.pop(key).close()
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with contextlib.suppress(OSError):
            os.remove(name)


def sweep(folder: str) -> list[str]:
    """Remove `progress-<pid>.sqlite` files in `folder` whose process is gone; return their paths.

    Example:
        >>> sweep("/nonexistent")
        []
    """
    removed = []
    for path in glob.glob(os.path.join(glob.escape(folder), "progress-*.sqlite")):
        pid = os.path.basename(path)[len("progress-") : -len(".sqlite")]
        if pid.isdigit() and not process_alive(int(pid)):
            remove(path)
            removed.append(path)
    return removed


class ProgressBar:
    """A tqdm bar fed from the published counters, refreshed from a background thread."""

    def __init__(self, total: int, path: str, desc: str = "Generating", interval: float = 0.5) -> None:
        self.total, self.path, self.desc, self.interval = total, path, desc, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hf_vqa-progress", daemon=True)

    def __enter__(self) -> ProgressBar:
        from tqdm.auto import tqdm

        sweep(os.path.dirname(self.path) or ".")  # files left by runs that were killed
        remove(self.path)
        _connect(self.path).close()
        os.environ[ENV] = self.path
        self._bar = tqdm(total=self.total, desc=self.desc, unit="row", dynamic_ncols=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._refresh()
        self._bar.close()
        os.environ.pop(ENV, None)
        remove(self.path)  # only this run read it: nothing piles up in the cache folder

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._refresh()

    def _refresh(self) -> None:
        t = totals(self.path)
        done = t.get("ok", 0) + t.get("failed", 0) + t.get("cached", 0) + t.get("prep_failed", 0)
        self._bar.n = min(done, self.total)
        tokens = t.get("prompt_tokens", 0) + t.get("completion_tokens", 0)
        self._bar.set_postfix(failed=t.get("failed", 0) + t.get("prep_failed", 0), retries=t.get("retries", 0),
                              http429=t.get("rate_limited", 0), tokens=tokens, refresh=False)  # fmt: skip
        self._bar.refresh()


__all__ = [
    "ENV",
    "ProgressBar",
    "publish",
    "remove",
    "sweep",
    "totals",
]
