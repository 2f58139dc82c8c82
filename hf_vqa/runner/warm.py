"""Warm start: a records file's first requests go out while `datasets` is still being imported.

Importing `datasets` and building the Arrow table cost about a second before the generation map can
send anything. For a records-file input the CLI reads the records itself (`inputs/records.py`, no
`datasets`), and starts the map's lookahead thread (`runner/lookahead.py`) on those rows at once; the
map adopts that thread when it starts. Each row the map reaches is checked against the row the thread
sent (same images, same conversation), so a row that differs is sent by the map itself and never
gets another row's reply. Results are identical to a cold start; only the time to the first request
changes.

It applies only where the map is one pass over the whole file in this process: no `--num-proc`,
`--shard`, `--retry-failed`, `--batch`, `--ray`, `--dry-run` or `--mock`, and the default column
names. Elsewhere `applies` is False and nothing changes.

Example:
    >>> start("records.jsonl", pipeline="image-vqa", vlm=vlm)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from hf_vqa.config import VLM

__all__ = ["applies", "start", "stop"]


def applies(args: argparse.Namespace, *, source: str, shard: Any, batch: bool, mock: bool) -> bool:
    """True when the CLI run `args` can start its requests before `datasets` is loaded."""
    from hf_vqa.inputs.stamps import input_kind

    return (
        not (mock or batch or args.dry_run or args.retry_failed or shard or args.ray is not None)
        and (args.num_proc or 1) <= 1
        and args.image_column == "image"
        and args.conversation_column == "conversation"
        and input_kind(source) == "records"
    )


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


def stop() -> None:
    """Stop a warm start no map adopted (the run ended before its map)."""
    from hf_vqa.runner.lookahead import drop_warm

    drop_warm()
