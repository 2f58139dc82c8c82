"""Shard planning: which shard this process is, how many run at once, and each one's share of the limits.

- `resolve_shard("2/4")` or `resolve_shard("auto", shards=4)`: the `(index, count)` of this process. `auto`
  reads a Slurm job array (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`) or a
  Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the count from `--shards`).
- `shards_at_once(shards, slots, vlm)`: how many shards a scheduler that hf_vqa drives (Ray) runs at once.
- `share_limits(vlm, at_once)`: the `VLM` each of those shards uses, so that together they stay within
  `--max-concurrency`, `--rpm` and `--tpm` (floor division: the sum never exceeds the total).

Example:
    >>> resolve_shard("auto", shards=4, environ={"JOB_COMPLETION_INDEX": "3"})
    (3, 4)
    >>> from hf_vqa.config import VLM
    >>> vlm = share_limits(VLM(max_concurrency=32, rpm=600), at_once=4)
    >>> vlm.max_concurrency, vlm.rpm
    (8, 150)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hf_vqa.config import VLM
from hf_vqa.errors import ConfigError

if TYPE_CHECKING:
    import datasets

__all__ = ["resolve_shard", "shards_at_once", "share_limits", "take_shard"]


def resolve_shard(
    text: str | None, shards: int | None = None, environ: Mapping[str, str] | None = None
) -> tuple[int, int] | None:
    """`--shard I/N` or `--shard auto` (+ `--shards N`) → `(I, N)`; None when no shard was asked for.

    Example:
        >>> resolve_shard("auto", environ={"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1",
        ...                                "SLURM_ARRAY_TASK_COUNT": "8"})
        (4, 8)
    """
    if text is None:
        return None
    from hf_vqa.publish.hub import parse_shard  # (imports `datasets`: only when a shard was asked for)

    if text.strip() != "auto":
        found = parse_shard(text)
        if shards is not None and shards != found[1]:
            raise ConfigError("--shards disagrees with --shard I/N", received=f"--shard {text} --shards {shards}",
                              fix="give one of them, or the same N in both")  # fmt: skip
        return found
    env = os.environ if environ is None else environ
    if env.get("SLURM_ARRAY_TASK_ID"):
        task = _int(env, "SLURM_ARRAY_TASK_ID")
        low = _int(env, "SLURM_ARRAY_TASK_MIN") if env.get("SLURM_ARRAY_TASK_MIN") else 0
        count = _int(env, "SLURM_ARRAY_TASK_COUNT") if env.get("SLURM_ARRAY_TASK_COUNT") else shards
        if env.get("SLURM_ARRAY_TASK_STEP", "1") != "1":
            raise ConfigError("--shard auto needs a Slurm array with step 1",
                              received=f"SLURM_ARRAY_TASK_STEP={env['SLURM_ARRAY_TASK_STEP']}",
                              fix="submit with --array=0-(N-1) (a %K throttle is fine)")  # fmt: skip
        return parse_shard(f"{task - low}/{_count(count, shards, 'SLURM_ARRAY_TASK_COUNT')}")
    if env.get("JOB_COMPLETION_INDEX"):
        return parse_shard(
            f"{_int(env, 'JOB_COMPLETION_INDEX')}/{_count(None, shards, 'JOB_COMPLETION_INDEX')}"
        )
    raise ConfigError(
        "--shard auto found no job-array index in the environment",
        received="neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set",
        fix="run it as a Slurm array task or a Kubernetes Indexed Job, or pass --shard I/N",
    )


def shards_at_once(shards: int, slots: int, vlm: VLM) -> int:
    """How many of `shards` run at the same time on `slots` task slots: at most one per slot, and never
    more than the limits can be split into (each shard needs >= 1 of max_concurrency, rpm and tpm).

    Example:
        >>> shards_at_once(4, slots=2, vlm=VLM(max_concurrency=32))
        2
        >>> shards_at_once(8, slots=16, vlm=VLM(max_concurrency=32, rpm=3))
        3
    """
    limits = [vlm.max_concurrency, *(v for v in (vlm.rpm, vlm.tpm) if v)]
    return max(1, min(shards, slots, *limits))


def share_limits(vlm: VLM, at_once: int) -> VLM:
    """The `VLM` for one of `at_once` shards running together: each limit divided, rounded down, >= 1.

    Example:
        >>> share_limits(VLM(max_concurrency=10, tpm=100_000), at_once=3).max_concurrency
        3
    """
    if at_once < 1:
        raise ConfigError("at_once must be >= 1", received=at_once, fix="pass the number of shards at once")

    def part(total: int | None) -> int | None:
        return None if total is None else max(1, total // at_once)

    return dataclasses.replace(
        vlm, max_concurrency=part(vlm.max_concurrency), rpm=part(vlm.rpm), tpm=part(vlm.tpm)
    )


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(f"{name} is not a number", received=env[name], fix=f"unset {name}") from None


def _count(found: int | None, shards: int | None, source: str) -> int:
    if found is not None and shards is not None and found != shards:
        raise ConfigError("--shards disagrees with the job array", received=f"{source}: {found}, --shards {shards}",
                          fix="drop --shards, or make it the array's size")  # fmt: skip
    count = found if found is not None else shards
    if count is None:
        raise ConfigError(f"--shard auto with {source} needs the shard count",
                          received="no --shards", fix="pass --shards N (the Job's completions)")  # fmt: skip
    return count


def take_shard(ds: datasets.Dataset, index: int, num: int) -> datasets.Dataset:
    """Shard `index` of `num`: contiguous and deterministic (`ds.shard(num, index, contiguous=True)`),
    so the shards cover every row once, in order; ConfigError when some shard would be empty.

    Example:
        >>> import datasets
        >>> take_shard(datasets.Dataset.from_dict({"x": list(range(5))}), 1, 2)["x"][:]
        [3, 4]
    """
    if num > len(ds):
        raise ConfigError(
            f"{num} shards of a {len(ds)}-row input would leave some empty",
            received=f"--shard {index}/{num}",
            fix=f"use at most {len(ds)} shards",
        )
    return ds.shard(num_shards=num, index=index, contiguous=True)
