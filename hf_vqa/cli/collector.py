"""Python's cyclic garbage collector for a CLI run: fewer, cheaper collections once the modules are loaded.

A run allocates a few container objects per row (the row, its request, its reply) and frees nearly all
of them by reference counting; the collector still ran a young-generation pass every 700 allocations
and, every tenth of those, walked the ~1 million objects `datasets`, pyarrow, pandas and aiohttp leave
behind at import. The command line calls `calm_collector` at its start (fewer passes while those
modules load) and again once they are loaded: it moves what is alive out of the collector's sight
(`gc.freeze`: those objects live as long as the process anyway) and raises the young-generation
threshold, so a pass runs every 5,000 allocations. Cycles are still found and freed, a little later.
Collector time of a 3,000-row run: 0.45-0.63 s -> 0.18-0.20 s (587 -> 82 passes); N=1: 0.14 -> 0.09 s.
The library (a notebook's `ds.map`) never changes the process's collector; only the command line does.

Example:
    >>> import gc
    >>> before = gc.get_threshold()
    >>> calm_collector(threshold=5000) and gc.get_threshold()[0]
    5000
    >>> gc.unfreeze(); gc.set_threshold(*before)
"""

from __future__ import annotations

import gc

THRESHOLD = 5000  # young-generation allocations between passes (Python's default: 700)


def calm_collector(threshold: int = THRESHOLD) -> bool:
    """Freeze what is alive now and raise the young threshold to `threshold` (a higher one is kept);
    False, and nothing changed, when the collector is off (the user or a profiler turned it off)."""
    if not gc.isenabled():
        return False
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, threshold), middle, old)
    return True


__all__ = ["THRESHOLD", "calm_collector"]
