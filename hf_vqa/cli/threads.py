"""One BLAS/OpenMP thread for the command line: set before `datasets` (and so numpy) is imported.

numpy's OpenBLAS starts a busy-waiting thread per core when numpy is imported (OpenMP and MKL builds do
the same): ~0.4 s of CPU on a 2-core machine before the first request, for BLAS work hf_vqa never does.
A value the user set wins; `num_proc` workers and Ray tasks inherit the environment.

Example:
    >>> one_blas_thread(env={"OMP_NUM_THREADS": "4"})
    {'OMP_NUM_THREADS': '4', 'OPENBLAS_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set each of `THREAD_VARIABLES` to ``"1"`` in `env` (default `os.environ`) unless already set."""
    env = os.environ if env is None else env
    for name in THREAD_VARIABLES:
        env.setdefault(name, "1")  # the user's own setting wins
    return env


__all__ = ["THREAD_VARIABLES", "one_blas_thread"]
