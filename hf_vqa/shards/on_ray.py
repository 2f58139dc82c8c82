"""Run the shards of a job on a Ray cluster: one Ray task per shard, progress per shard, one summary.

Each task runs `job.run_shard`: the ordinary pipeline (the same `ds.map` steps, request store and
checks) on its contiguous shard, then the usual `--shard I/N` push (or Parquet under a shared output,
merged by the driver at the end). Ray retries a task whose worker or node died (`max_retries`); shards
of this run already in are skipped, so rerunning the driver after a crash resumes shard by shard. At most
`shards_at_once` tasks run together, each with its share of `--max-concurrency`, `--rpm` and `--tpm`.
Settings reach the workers as environment variables of the Ray job (`runtime_env`). Secrets (the API
key, the Hub token) do not: Ray writes a job's `runtime_env`, env vars included, into its
`runtime_env_agent.log`. The driver puts them in Ray's object store (`ray.put`) and hands each task
the reference; the task sets them in its own environment while it runs and removes them after.

Ray is optional (`pip install 'hf_vqa[ray]'`); this module imports it only when called.

Example:
    >>> run = run_on_ray(job, address="local")  # doctest: +SKIP
    >>> run.summary.line()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_vqa.errors import ConfigError
from hf_vqa.shards.job import ShardJob, ShardResult, done_shards, merge_folder, merge_summaries, run_shard
from hf_vqa.shards.plan import shards_at_once, share_limits
from hf_vqa.shards.progress import ShardState, describe, progress_line, record, update_states

__all__ = ["RayRun", "run_on_ray"]

FORWARDED_ENV = ("HF_ENDPOINT", "HF_HUB_DISABLE_XET", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
                 "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "HF_VQA_CACHE")  # fmt: skip
# never in runtime_env (Ray logs it): the Hub token, --header / --query (engine/gateway.py: they may carry a
# key), and the VLM's api_key_env
SECRET_ENV = ("HF_TOKEN", "HF_VQA_HEADERS", "HF_VQA_QUERY")


@dataclass
class RayRun:
    """The outcome: per-shard states, the merged `Summary`, and where the data went."""

    shards: list[ShardState]
    summary: Any
    where: str

    @property
    def ok(self) -> bool:
        return all(s.state in ("done", "skipped") for s in self.shards)


def run_on_ray(
    job: ShardJob,
    *,
    address: str | None = "local",
    max_retries: int = 3,
    num_cpus: float = 1.0,
    local_cpus: int | None = None,
    runtime_env: dict | None = None,
    on_progress: Callable[[list[ShardState]], None] | None = None,
    interval: float = 0.5,
    say: Callable[[str], None] | None = None,
) -> RayRun:
    """Run `job`'s shards as Ray tasks on the cluster at `address` (`"local"`: start one here, with
    `local_cpus` CPUs, default all); each task takes `num_cpus`. Ray reruns a task whose worker died up
    to `max_retries` times. `on_progress(states)` is called after every poll (each `interval` seconds).

    Example:
        >>> job = ShardJob("image-vqa", "records.jsonl", vlm, num_shards=4, repo_id="me/x")  # doctest: +SKIP
        >>> run_on_ray(job, address="local").summary.line()  # doctest: +SKIP
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray, which is an optional extra", received="no module named 'ray'",
                          fix="pip install 'hf_vqa[ray]'") from None  # fmt: skip
    say = say or (lambda text: print(text, flush=True))
    start = time.monotonic()
    started_here = not ray.is_initialized()  # else: the caller's Ray, with its own runtime_env
    env, secrets = _runtime_env(job, runtime_env, local=address in (None, "local"))
    if started_here:
        _init_ray(ray, address, env, local_cpus)
    try:
        secrets_ref = ray.put(secrets)  # in the object store, not in any log; each task reads it
        states = [ShardState(i) for i in range(job.num_shards)]
        counts = done_shards(job)  # index -> counts, of the shards this run already has
        for index, done in counts.items():
            states[index].state, states[index].rows = "skipped", done["rows"]
            states[index].done = done["rows"]
        previous = {s.index: record(s) for s in states}
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
        at_once = shards_at_once(job.num_shards, slots, job.vlm)
        shard_job = _with_vlm(job, share_limits(job.vlm, at_once))
        say(f"ray: {job.num_shards} shard(s), {at_once} at once, each with max_concurrency="
            f"{shard_job.vlm.max_concurrency}" + (f", {sum(s.state == 'skipped' for s in states)} already in"
                                                   if any(s.state == "skipped" for s in states) else ""))  # fmt: skip
        board = ray.remote(_BoardActor).options(num_cpus=0).remote()
        task = ray.remote(_shard_task).options(max_retries=max_retries, num_cpus=num_cpus)
        pending = [s.index for s in states if s.state == "waiting"]
        running: dict[Any, int] = {}
        last_line = time.monotonic()
        while pending or running:
            while pending and len(running) < at_once:
                index = pending.pop(0)
                running[task.remote(shard_job, index, board, secrets_ref)] = index
            ready, _ = ray.wait(list(running), num_returns=1, timeout=interval)
            for ref in ready:
                index = running.pop(ref)
                try:
                    result: ShardResult = ray.get(ref)
                    counts[index], s = result.summary, states[index]
                    s.state, s.rows, s.done = "done", result.summary["rows"], result.summary["rows"]
                    s.failed, s.seconds = result.summary["failed"], result.summary["seconds"]
                except Exception as err:  # the task's own error (or a worker that died max_retries times)
                    states[index].state, states[index].error = "failed", _one_line(err)
            update_states(states, ray.get(board.snapshot.remote()))
            for s in states:
                if record(s) != previous[s.index]:
                    say(describe(s, job.num_shards))
                    previous[s.index] = record(s)
            if on_progress is not None:
                on_progress(states)
            if time.monotonic() - last_line > 10:
                say(progress_line(states))
                last_line = time.monotonic()
        summary = merge_summaries([counts[i] for i in sorted(counts)], seconds=time.monotonic() - start)
        where = job.repo_id or job.output or ""
        if all(s.state in ("done", "skipped") for s in states) and job.output:
            where = merge_folder(job, summary)
        return RayRun(shards=states, summary=summary, where=where)
    finally:
        if started_here:
            ray.shutdown()


def _init_ray(ray: Any, address: str | None, env: dict, local_cpus: int | None) -> None:
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "runtime_env": env}
    if address in (None, "local"):  # always a new Ray, even if `ray start` left one on this machine
        ray.init(address="local", num_cpus=local_cpus or os.cpu_count() or 1, **kwargs)
        return
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError) as err:
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address}",
            received=_one_line(err),
            fix="check the address (ray://HEAD:10001 or HEAD:6379), `ray status` on the head, and its auth "
            "token (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN); or use --ray local",
        ) from None


def _shard_task(job: ShardJob, index: int, board: Any, secrets: dict | None = None) -> ShardResult:
    """The Ray task: report start and progress to the board, run the shard, close its engines.
    `secrets` (env var → value) are set for the task's run and removed after it."""
    import tempfile
    import threading

    from hf_vqa.engine import progress
    from hf_vqa.engine.lifecycle import close_engines

    saved = {name: os.environ.get(name) for name in secrets or {}}
    os.environ.update(secrets or {})
    board.started.remote(index, os.getpid())
    folder = tempfile.mkdtemp(prefix="hf_vqa_shard_progress_")
    path = str(Path(folder) / "progress.sqlite")
    os.environ[progress.ENV] = path
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(0.5):
            t = progress.totals(path)
            done = t.get("ok", 0) + t.get("failed", 0) + t.get("cached", 0) + t.get("prep_failed", 0)
            board.progress.remote(index, done, t.get("failed", 0) + t.get("prep_failed", 0))

    thread = threading.Thread(target=report, name="hf_vqa-shard-progress", daemon=True)
    thread.start()
    try:
        import datasets

        datasets.disable_progress_bars()
        return run_shard(job, index)
    finally:
        stop.set()
        thread.join()
        close_engines()  # a reused worker starts its next shard with fresh counters
        os.environ.pop(progress.ENV, None)
        for name, value in saved.items():  # a reused worker keeps no key between tasks
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _BoardActor:
    """Per-shard attempts (worker pids) and rows done, as the tasks report them."""

    def __init__(self) -> None:
        self.shards: dict[int, dict] = {}

    def started(self, index: int, pid: int) -> None:
        entry = self.shards.setdefault(index, {"pids": [], "done": 0, "failed": 0})
        entry["pids"].append(pid)
        entry |= {"done": 0, "failed": 0, "started": time.time()}

    def progress(self, index: int, done: int, failed: int) -> None:
        entry = self.shards.setdefault(index, {"pids": [], "started": time.time()})
        entry |= {"done": done, "failed": failed}

    def snapshot(self) -> dict[int, dict]:
        return self.shards


def _with_vlm(job: ShardJob, vlm: Any) -> ShardJob:
    import dataclasses

    return dataclasses.replace(job, vlm=vlm)


def _runtime_env(job: ShardJob, extra: dict | None, *, local: bool) -> tuple[dict, dict]:
    """`(runtime_env, secrets)`: the job's settings as env vars (off this machine, hf_vqa's code too),
    and apart from them the key and the Hub token, which must not go into `runtime_env` (Ray logs it)."""
    env = dict(extra or {})
    env_vars = dict(env.get("env_vars") or {})
    env_vars |= {n: os.environ[n] for n in FORWARDED_ENV if os.environ.get(n) and n not in env_vars}
    names = [*SECRET_ENV, *([job.vlm.api_key_env] if job.vlm.api_key_env else [])]
    secrets = {n: os.environ[n] for n in names if os.environ.get(n) and n not in env_vars}
    if job.repo_id and "HF_TOKEN" not in env_vars and "HF_TOKEN" not in secrets:
        from huggingface_hub import get_token

        token = get_token()  # from `hf auth login`: the workers have no login cache of their own
        if token:
            secrets["HF_TOKEN"] = token
    env["env_vars"] = env_vars
    if not local and "py_modules" not in env:
        env["py_modules"] = [str(Path(__file__).resolve().parents[1])]  # the driver's hf_vqa, on every worker
    return env, secrets


def _one_line(err: BaseException) -> str:
    cause = getattr(err, "cause", None) or err
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:300]
