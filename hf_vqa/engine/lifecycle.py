"""The engines of this process: which are open, stopping new requests on Ctrl-C, closing them at exit,
and forgetting a parent's engines after a fork (their loop threads did not come along).

`client.get_engine` keeps one engine per process and `VLM` in `ENGINES`; every engine, however made,
is in `OPEN` until closed.

Example:
    >>> close_engines()  # the next `get_engine` call makes a fresh one
"""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import threading
from typing import Any

__all__ = ["ENGINES", "LOCK", "OPEN", "STOPPING", "close_engines", "drain_engines"]

ENGINES: dict[tuple, Any] = {}  # (pid, vlm) -> Engine: the one `get_engine` hands out
OPEN: set[Any] = set()  # every open engine of this process (each owns a loop thread) until closed
STOPPING = threading.Event()  # set on Ctrl-C: no new request is sent from here on
LOCK = threading.Lock()
_INHERITED: list[Any] = []
_PID = [os.getpid()]


def drain_engines(timeout: float) -> int:
    """Wait up to `timeout` seconds for this process's in-flight requests (their replies are stored).

    Used on Ctrl-C: replies already on the wire are paid for, so let them land in the store instead of
    sending them again on the rerun. Returns how many were still unfinished.
    """
    STOPPING.set()  # no new requests from here on (the lookahead thread included)
    futures = [f for engine in list(ENGINES.values()) for f in engine.in_flight()]
    _done, pending = concurrent.futures.wait(futures, timeout=timeout)
    return len(pending)


def close_engines() -> None:
    """Close every engine of this process (at exit, so no open connection is left for the GC to report)."""
    if os.getpid() != _PID[0]:
        return
    with LOCK:
        ENGINES.clear()
        engines = list(OPEN)
        OPEN.clear()
    for engine in engines:
        engine.close(timeout=2.0)


def _forget_after_fork() -> None:
    # The parent's engines are not this process's to use or close (their loop thread did not fork).
    # Keep the copies referenced: dropped, the GC would report their sockets as "Unclosed client
    # session" in every forked num_proc worker of a notebook that had already sent requests.
    _INHERITED.extend(OPEN)
    ENGINES.clear()
    OPEN.clear()
    _PID[0] = os.getpid()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(close_engines)
