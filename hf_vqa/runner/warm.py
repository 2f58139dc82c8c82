"""Warm start: a records file's first requests go out while `datasets` is still being imported.

Importing `datasets` and building the Arrow table cost about a second before the generation map can
send anything. For a records-file input the CLI reads the records itself (`inputs/records.py`, no
`datasets`), and starts the map's lookahead thread (`runner/lookahead.py`) on those rows at once; the
map adopts that thread when it starts. Each row the map reaches is checked against the row the thread
sent (same images, same conversation), so a row that differs is sent by the map itself and never
gets another row's reply. Results are identical to a cold start; only the time to the first request
changes.

It applies only to the first run of a records file with these settings (`maybe_start` remembers each
run's key in `warm-starts.json` in the cache folder: a rerun's map may be answered from the Arrow
cache, whose failed rows only `--retry-failed` sends again), where the map is one pass over the
whole file in this process: no `--num-proc`,
`--shard`, `--retry-failed`, `--batch`, `--ray`, `--dry-run` or `--mock`, and the default column
names. Elsewhere nothing changes. A warm start that no map took (the map came from the cache) is
stopped when the map ends.

Example:
    >>> start("records.jsonl", pipeline="image-vqa", vlm=vlm)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hf_vqa.config import VLM

__all__ = ["applies", "maybe_start", "one_pass", "reread", "run_key", "start", "stop"]

SEEN_FILE = "warm-starts.json"  # in the cache folder: the keys of runs already made (newest last)
SEEN_MAX = 2000


def maybe_start(
    args: argparse.Namespace, *, source: str, vlm: VLM, shard: Any, batch: bool, mock: bool
) -> bool:
    """Start a warm start for the CLI run `args` if it `applies` and no earlier run had the same input and
    settings (its map may come from the Arrow cache); remember this run either way. True if started."""
    from hf_vqa.inputs.stamps import input_kind

    if args.dry_run or input_kind(source) != "records":
        return False
    first = _remember(run_key(args, vlm, source), vlm.cache_folder / SEEN_FILE)
    if not (first and applies(args, source=source, shard=shard, batch=batch, mock=mock)):
        return False
    start(source, pipeline=args.pipeline, vlm=vlm, system_prompt=args.system_prompt, prompt=args.prompt,
          language=args.language, json_mode=args.json_mode)  # fmt: skip
    return True


def run_key(args: argparse.Namespace, vlm: VLM, source: str) -> str:
    """What decides the generation map's requests: the records file's stamp, the pipeline and its settings.

    Example:
        >>> a = argparse.Namespace(pipeline="image-vqa", system_prompt=None, prompt=None, language="en",
        ...                        json_mode=False)
        >>> run_key(a, VLM(model="m"), "missing.jsonl") == run_key(a, VLM(model="n"), "missing.jsonl")
        False
    """
    from hf_vqa.inputs.stamps import file_stamp

    try:
        stamp = file_stamp(source)
    except OSError:
        stamp = ""
    fields = [stamp, str(Path(source).resolve()), args.pipeline, repr(vlm), args.system_prompt, args.prompt,
              args.language, args.json_mode]  # fmt: skip
    return hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()


def _remember(key: str, path: Path) -> bool:
    """Add `key` to the file of seen runs; True if it was not there. Never raises (False on any error)."""
    try:
        seen = json.loads(path.read_text()) if path.exists() else []
        if not isinstance(seen, list):
            seen = []
    except (OSError, ValueError):
        seen = []
    first = key not in seen
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        kept = [k for k in seen if k != key][-(SEEN_MAX - 1) :]
        tmp.write_text(json.dumps([*kept, key]))
        os.replace(tmp, path)
    except OSError:
        return False
    return first


def applies(args: argparse.Namespace, *, source: str, shard: Any, batch: bool, mock: bool) -> bool:
    """True when the CLI run `args` can start its requests before `datasets` is loaded."""
    from hf_vqa.inputs.stamps import input_kind

    return (
        one_pass(args, shard=shard, batch=batch)
        and not (mock or args.dry_run)
        and args.image_column == "image"
        and args.conversation_column == "conversation"
        and input_kind(source) == "records"
    )


def one_pass(args: argparse.Namespace, *, shard: Any, batch: bool) -> bool:
    """True when the CLI run `args` makes its generation map one pass over every row, in this process:
    no `--batch`, `--ray`, `--shard`, `--num-proc` above 1 or `--retry-failed` (the warm start and the
    output spool both need that).

    Example:
        >>> one_pass(argparse.Namespace(retry_failed=False, ray=None, num_proc=2), shard=None, batch=False)
        False
    """
    return not (batch or shard or args.retry_failed or args.ray is not None) and (args.num_proc or 1) <= 1


def start(
    path: str | os.PathLike,
    *,
    pipeline: str,
    vlm: VLM,
    system_prompt: str | None = None,
    prompt: str | None = None,
    language: str = "en",
    json_mode: bool = False,
) -> Any:
    """Read the records at `path` and start submitting their requests, in order, for the generation map
    that `run_pipeline` will run with the same settings (the map adopts the thread). Returns the
    lookahead's `Prefetcher`. A bad records file raises `InputError` before anything is sent."""
    from hf_vqa.generate import prefetch_key, row_settings, row_submitter
    from hf_vqa.inputs.records import read_records
    from hf_vqa.runner.lookahead import Prefetcher, adopt_warm
    from hf_vqa.spec import get_spec

    spec = get_spec(pipeline)
    vlm = spec.vlm_for(vlm)  # exactly as run_pipeline derives what the map sends
    system_prompt, prompt = spec.instructions(system_prompt, prompt, language)
    settings = row_settings(system_prompt=system_prompt, prompt=prompt,
                            response_format=spec.json_format if json_mode else None)  # fmt: skip
    records = read_records(path)
    from hf_vqa.engine.http_client import kind

    kind()  # imports the HTTP library here, first: the engine thread then need not race `datasets`' import
    rows = (  # each row as the map will see it: undecoded images ({"bytes", "path"}), the turns
        {"image": [{"bytes": None, "path": p} for p in r["image"]], "conversation": r["conversation"]}
        for r in records
    )
    prefetcher = Prefetcher(None, 0, len(records), row_submitter(vlm, settings), rows=rows)
    adopt_warm(prefetcher, prefetch_key(vlm, settings))
    return prefetcher


def reread(ds: Any) -> None:
    """`ds` is the records file loaded (one Arrow file): a running warm start reads the rest of its rows
    from there and lets its records go (memory flat in the number of rows)."""
    from hf_vqa.runner.lookahead import reread_warm

    reread_warm(ds)


def stop() -> None:
    """Stop a warm start no map adopted (the run ended before its map)."""
    from hf_vqa.runner.lookahead import drop_warm

    drop_warm()
