"""One shard of a sharded run, as plain data, and the work it stands for (no scheduler in here).

A `ShardJob` says everything a machine needs to make shard I of N: the input, the pipeline, the
`VLM` (with its share of the limits), and where the shard goes: pushed to a Hub repo with the usual
`--shard I/N` push, or written as Parquet under a shared `output` (a path or an fsspec URL such as
`s3://bucket/run`), which `merge_folder` turns into one output folder. It holds no key and no client,
so it pickles to any worker; `run_shard(job, I)` is the ordinary pipeline on `ds.shard(N, I, contiguous=True)`.

`done_shards(job)` tells which shards of this very run (same `run_key`, same N) are already in, so
a rerun skips them.

Example:
    >>> from hf_vqa.config import VLM
    >>> job = ShardJob("image-vqa", "records.jsonl", VLM(model="m"), num_shards=4, repo_id="me/x")
    >>> len(job.run_key)
    16
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from hf_vqa.config import VLM
from hf_vqa.errors import ConfigError
from hf_vqa.shards.plan import take_shard
from hf_vqa.version import __version__

__all__ = ["ShardJob", "ShardResult", "done_shards", "merge_folder", "merge_summaries", "run_shard"]

SHARDS_DIR = "_shards"
DONE_FILE = "_done.json"


@dataclass(frozen=True)
class ShardJob:
    """The plain settings of a sharded run (what `run_shard` needs on any machine)."""

    pipeline: str
    source: str
    vlm: VLM
    num_shards: int
    repo_id: str | None = None
    output: str | None = None
    split: str = "train"
    config_name: str = "default"
    private: bool = False
    commit_message: str | None = None
    system_prompt: str | None = None
    prompt: str | None = None
    image_key: str = "image"
    conversation_key: str = "conversation"
    json_mode: bool = False
    filters: tuple[str, ...] = ()
    num_proc: int | None = None
    batch_size: int | None = None
    prices: tuple[float, float] | None = None
    license: str = "other"
    command: str = ""
    mock: bool = False
    version: str = __version__
    language: str = "en"
    repair_parse: bool = False

    def __post_init__(self) -> None:
        if bool(self.repo_id) == bool(self.output):
            raise ConfigError("a sharded run goes to a Hub repo or to a shared output, exactly one",
                              received=f"repo_id={self.repo_id!r} output={self.output!r}",
                              fix="pass repo_id='me/x' (--push-to-hub) or output='/shared/run'")  # fmt: skip
        if not isinstance(self.num_shards, int) or self.num_shards < 1:
            raise ConfigError("num_shards must be an int >= 1", received=self.num_shards, fix="--shards 4")

    @property
    def run_key(self) -> str:
        """What makes this run's data: input (and its stamp), pipeline, model, prompts, N, version."""
        from hf_vqa.inputs.stamps import input_stamp

        v = self.vlm
        what = [self.pipeline, self.source, input_stamp(self.source), self.split, v.model, v.host]
        what += [v.generation_params(), v.max_image_side, v.max_image_pixels, self.system_prompt, self.prompt]
        what += [self.image_key, self.conversation_key, self.json_mode, list(self.filters), self.num_shards]
        what += [self.config_name, self.version]
        if self.language != "en" or self.repair_parse:  # runs without them keep the run key they had
            what += [self.language, self.repair_parse]
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class ShardResult:
    """What one shard reports back: its row counts (a `Summary` as a dict) and where it went."""

    index: int
    summary: dict = field(default_factory=dict)
    where: str = ""
    skipped: bool = False


def run_shard(job: ShardJob, index: int) -> ShardResult:
    """Load the input, keep shard `index`, run the pipeline, then push it or write it; return its counts.

    Example:
        >>> run_shard(job, 2).summary["rows"]  # doctest: +SKIP
        250
    """
    from hf_vqa.inputs.load import load_input
    from hf_vqa.pipeline import filter_rows, run_pipeline
    from hf_vqa.publish.card import RunInfo

    if job.version != __version__:
        raise ConfigError("this worker runs another hf_vqa version than the driver",
                          received=f"worker {__version__}, driver {job.version}",
                          fix="install the same hf_vqa on every node (or let run_on_ray ship it)")  # fmt: skip
    vlm = job.vlm
    if vlm.rpm or vlm.tpm:  # this shard's share of the limits is its own bucket, even on a shared machine
        vlm = dataclasses.replace(vlm, rate_scope=f"{job.run_key}-{index}")
    ds = load_input(job.source, split=job.split)
    ds = take_shard(ds, index, job.num_shards)
    ds, summary = run_pipeline(
        ds, job.pipeline, vlm=vlm, system_prompt=job.system_prompt, prompt=job.prompt,
        image_key=job.image_key, conversation_key=job.conversation_key, json_mode=job.json_mode,
        num_proc=job.num_proc, batch_size=job.batch_size, prices=job.prices, language=job.language,
        repair_parse=job.repair_parse,
    )  # fmt: skip
    ds = filter_rows(ds, job.pipeline, list(job.filters))
    spec_system, spec_prompt = _instructions(job)
    info = RunInfo.from_run(
        job.pipeline, vlm, summary, mock=job.mock, system_prompt=spec_system, prompt=spec_prompt,
        command=job.command, example=_example(ds, job.pipeline), license=job.license, split=job.split,
        run_key=job.run_key, language=[job.language],
    )  # fmt: skip
    if job.repo_id:
        from hf_vqa.publish.hub import push_dataset

        where = push_dataset(
            ds, job.repo_id, card=info, split=job.split, config_name=job.config_name, private=job.private,
            shard=(index, job.num_shards), commit_message=job.commit_message,
        )  # fmt: skip
    else:
        where = _write_part(ds, job, index, dataclasses.asdict(summary), info.example)
    return ShardResult(index=index, summary=dataclasses.asdict(summary), where=where)


def done_shards(job: ShardJob) -> dict[int, dict]:
    """Shards of this run already in (index → their counts), read from the Hub card or the done markers."""
    if job.repo_id:
        from hf_vqa.publish.hub import shards_on_hub

        found = shards_on_hub(job.repo_id, job.num_shards, run_key=job.run_key, split=job.split,
                              config_name=job.config_name)  # fmt: skip
        return {i: _summary_of_record(r) for i, r in found.items()}
    fs, root = _fs(job.output)
    out = {}
    for index in range(job.num_shards):
        marker = f"{root}/{SHARDS_DIR}/{_part_name(index, job.num_shards)}/{DONE_FILE}"
        if fs.exists(marker):
            done = json.loads(fs.cat_file(marker))
            if done.get("run_key") == job.run_key:
                out[index] = done["summary"]
    return out


def merge_summaries(parts: list[dict], *, seconds: float) -> Any:
    """One `Summary` over the shards' summaries (counts and checks added; `seconds` is the wall time)."""
    from hf_vqa.runner.summary import Summary

    total = Summary(seconds=seconds)
    for part in parts:
        for name in ("rows", "succeeded", "failed", "parse_failed", "cached", "retries"):
            setattr(total, name, getattr(total, name) + int(part.get(name) or 0))
        total.prompt_tokens += int(part.get("prompt_tokens") or 0)
        total.completion_tokens += int(part.get("completion_tokens") or 0)
        for name, hits in (part.get("checks") or {}).items():
            total.checks[name] = total.checks.get(name, 0) + hits
        if part.get("cost_usd") is not None:
            total.cost_usd = (total.cost_usd or 0.0) + part["cost_usd"]
    return total


def merge_folder(job: ShardJob, summary: Any) -> str:
    """Move every shard's Parquet, in shard order, into `output/data/` and write the merged card."""
    from hf_vqa.publish.card import RunInfo, build_card

    fs, root = _fs(job.output)
    parts = [f"{root}/{SHARDS_DIR}/{_part_name(i, job.num_shards)}" for i in range(job.num_shards)]
    files = [f for part in parts for f in sorted(fs.glob(f"{part}/data/{job.split}-*.parquet"))]
    for old in fs.glob(f"{root}/data/{job.split}-*.parquet"):
        fs.rm(old)
    fs.makedirs(f"{root}/data", exist_ok=True)
    for k, f in enumerate(files):
        fs.mv(f, f"{root}/data/{job.split}-{k:05d}-of-{len(files):05d}.parquet")
    example = None
    for part in parts:
        example = example or json.loads(fs.cat_file(f"{part}/{DONE_FILE}")).get("example")
    system_prompt, prompt = _instructions(job)
    info = RunInfo.from_run(
        job.pipeline, job.vlm, summary, mock=job.mock, system_prompt=system_prompt, prompt=prompt,
        command=job.command, example=example, license=job.license, split=job.split, language=[job.language],
    )  # fmt: skip
    fs.pipe_file(f"{root}/README.md", str(build_card(info, config_name=job.config_name)).encode("utf-8"))
    fs.rm(f"{root}/{SHARDS_DIR}", recursive=True)
    return job.output or ""


def _write_part(ds: Any, job: ShardJob, index: int, summary: dict, example: dict | None) -> str:
    """Save the shard as a folder locally, copy it under `output/_shards/`, then write its done marker."""
    from hf_vqa.publish.folder import save_folder
    from hf_vqa.runner.rows import image_settings

    fs, root = _fs(job.output)
    target = f"{root}/{SHARDS_DIR}/{_part_name(index, job.num_shards)}"
    if fs.exists(target):
        fs.rm(target, recursive=True)
    with tempfile.TemporaryDirectory(prefix="hf_vqa_shard_") as tmp:
        save_folder(ds, tmp, split=job.split, fetch=image_settings(job.vlm).url)
        for name in sorted(os.listdir(os.path.join(tmp, "data"))):
            fs.makedirs(f"{target}/data", exist_ok=True)
            fs.put_file(os.path.join(tmp, "data", name), f"{target}/data/{name}")
    done = {"run_key": job.run_key, "summary": summary, "example": example}
    fs.pipe_file(f"{target}/{DONE_FILE}", json.dumps(done, default=str).encode("utf-8"))
    return target


def _summary_of_record(record: dict) -> dict:
    """A shard's card record (see `card.update_card`) as the counts `merge_summaries` adds."""
    rows, failed = int(record.get("rows") or 0), int(record.get("failed") or 0)
    out = {k: record.get(k) for k in ("parse_failed", "prompt_tokens", "completion_tokens", "cost_usd")}
    return {**out, "rows": rows, "failed": failed, "succeeded": rows - failed, "checks": record.get("checks")}


def _instructions(job: ShardJob) -> tuple[str | None, str | None]:
    from hf_vqa.spec import get_spec

    return get_spec(job.pipeline).instructions(job.system_prompt, job.prompt, job.language)


def _example(ds: Any, pipeline: str) -> dict | None:
    from hf_vqa.spec import get_spec

    refined = get_spec(pipeline).refined
    for row in ds.select_columns([c for c in ("vqa", refined) if c in ds.column_names]):
        if row.get(refined) is not None:
            return row
    return None


def _part_name(index: int, num: int) -> str:
    return f"shard{index:05d}-of-{num:05d}"


def _fs(output: str | None) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(output or "")
    return fs, root.rstrip("/")
