"""Hand the memory a finished phase freed back to the operating system (glibc's `malloc_trim`).

glibc's malloc keeps freed memory inside its heaps (one per thread that allocates). A long run frees
what its requests held (prepared images, request bodies, replies, the records read for the warm
start) in scattered pieces, so without help the process keeps all of it resident while the tail
(the output write, the card, the diversity counts) allocates more on top: the peak RSS then grew with
the number of rows. `release_free_memory` returns every free page of every heap to the OS; it is
called where a phase ends (the generation map and its refine step). Elsewhere than glibc (musl,
macOS, Windows) it does nothing.

Example:
    >>> release_free_memory() in (True, False)
    True
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

__all__ = ["release_free_memory"]


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; True when glibc's `malloc_trim` ran.

    Example:
        >>> release_free_memory() in (True, False)
        True
    """
    libc = _glibc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # never fail a run over it
        return False
    return True


@functools.cache  # looked up once
def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: the C library it runs on
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl has no malloc_trim
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc
