"""One run at a time per output: a second run on the same `--output` exits at once with a clear message.

The shards of a job array (`--shard I/N`) are separate runs: each has its own lock.

Two runs on the same output would both pay for every request the store does not hold yet. The lock
is a POSIX record lock (``fcntl.lockf``) on ``<cache>/locks/<hash of the output path>.lock`` (the
store's folder). Such a lock belongs to the process that took it: forked ``--num-proc`` workers do
not inherit it (an ``flock`` would be shared with them, and a worker outliving a killed main process
would keep the output locked), and it ends when that process ends, also on SIGKILL, so it never goes
stale. The file records who holds it. A POSIX lock also ends when its process closes *any* descriptor
of the file, so this process never opens a lock file it holds a second time (`_HELD`).

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
import weakref
from pathlib import Path
from typing import IO

__all__ = ["Busy", "hold"]

# lock file path -> the open file holding its lock in this process (weak: the lock ends with the file)
_HELD: weakref.WeakValueDictionary[str, IO] = weakref.WeakValueDictionary()


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
    path = str(folder / f"{name}.lock")
    held = _HELD.get(path)
    if held is not None and not held.closed and _HELD_BY.get(path) == os.getpid():
        raise Busy(f"another run is writing {output} (pid {os.getpid()}, this process); wait for it to finish, "
                   "or pass another --output")  # fmt: skip
    f = open(path, "a+")  # noqa: SIM115  (held open for the whole run)
    try:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EAGAIN / EACCES: another process holds it
        f.seek(0)
        holder = f.read().strip() or "pid unknown"
        f.close()
        raise Busy(f"another run is writing {output} ({holder}); wait for it to finish, or pass another "
                   "--output") from None  # fmt: skip
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
    f.flush()
    _HELD[path], _HELD_BY[path] = f, os.getpid()
    return f


_HELD_BY: dict[str, int] = {}  # lock file path -> the pid that took it (a forked child holds nothing)
