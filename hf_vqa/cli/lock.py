"""One run at a time per output: a second run on the same `--output` exits at once with a clear message.

The shards of a job array (`--shard I/N`) are separate runs: each has its own lock.

Two runs on the same output would both pay for every request the store does not hold yet. The lock
is an `flock` on ``<cache>/locks/<hash of the output path>.lock`` (the store's folder), held until
the process ends (also on a kill), so it never goes stale; the file records who holds it.

Example:
    >>> import tempfile
    >>> cache = tempfile.mkdtemp()
    >>> first = hold("out/", cache)
    >>> hold("out/", cache)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hf_vqa.cli.lock.Busy: another run is writing out/ (pid ...); wait for it to finish, or pass another --output
    >>> first.close()
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path
from typing import IO

__all__ = ["Busy", "hold"]


class Busy(Exception):
    """Another process holds the output's lock."""


def hold(output: str, cache_dir: str | None, scope: str = "") -> IO:
    """Take the lock for `output` (kept while the returned file stays open), or raise `Busy`.
    Runs with different `scope`s (e.g. the shards of a job array) never block each other."""
    from hf_vqa.config import cache_folder  # light: no datasets

    folder = cache_folder(cache_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    where = f"{Path(output).resolve()}|{scope}".encode("utf-8", "surrogateescape")
    name = hashlib.sha1(where).hexdigest()[:16]
    f = open(folder / f"{name}.lock", "a+")  # noqa: SIM115  (held open for the whole run)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "pid unknown"
        f.close()
        raise Busy(f"another run is writing {output} ({holder}); wait for it to finish, or pass another "
                   "--output") from None  # fmt: skip
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
    f.flush()
    return f
