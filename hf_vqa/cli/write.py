"""Writing a run's output: seed records (`.json`/`.jsonl`) or a dataset folder with its card.

A rerun keeps the user's edits to the card, as pushes do. Heavy modules load inside the function.

Example:
    >>> info = write_output(ds, args, vlm, summary, mock=False, argv=sys.argv[1:])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hf_vqa.cli.command import command_line
from hf_vqa.config import VLM
from hf_vqa.spec import PIPELINES

if TYPE_CHECKING:  # the heavy modules (datasets, openai, PIL) load only when a job really runs
    from hf_vqa.publish.card import RunInfo
    from hf_vqa.runner.summary import Summary


def write_output(
    ds,
    args: argparse.Namespace,
    vlm: VLM,
    summary: Summary,
    *,
    mock: bool,
    argv: list[str],
    batch: dict | None = None,
    diversity: str | Callable[[], str] | None = None,
    verification: dict | None = None,
    spool=None,
) -> RunInfo | None:
    """Write `ds` to `--output` (records, or a folder with its card); the card's `RunInfo`, None for records.

    `diversity` (the card's section) may be a function: it then runs while the parquet is written.
    `spool`: the parquet written while the replies arrived (`publish.spool`), used when it is this data."""
    from hf_vqa.publish.records import export_records

    out = Path(args.output)
    if out.suffix.lower() in (".json", ".jsonl"):
        export_records(ds, out)
        return None
    from hf_vqa.messages import instructions_sent
    from hf_vqa.publish.card import (  # imports huggingface_hub's card machinery: only when needed
        RunInfo,
        build_card,
    )
    from hf_vqa.publish.folder import save_folder
    from hf_vqa.runner.rows import image_settings

    spec = PIPELINES[args.pipeline]
    readme = out / "README.md"  # a rerun keeps the user's edits to the card, as pushes do
    existing = readme.read_text(encoding="utf-8") if readme.is_file() else None
    info: RunInfo | None = None

    def card() -> str:  # built while the parquet is written (`save_folder`)
        nonlocal info
        system_prompt, prompt = spec.instructions(args.system_prompt, args.prompt, args.language)  # as sent
        column = args.conversation_column
        if column in ds.column_names:  # records with their own human turn send that, not the prompt
            prompt = instructions_sent((row[column] for row in ds.select_columns([column])), prompt)
        info = RunInfo.from_run(
            args.pipeline,
            vlm,
            summary,
            mock=mock,
            system_prompt=system_prompt,
            prompt=prompt,
            command=command_line(argv),
            example=example_row(ds, spec.refined),
            diversity=diversity() if callable(diversity) else diversity,
            license=args.license,
            split=args.split,
            batch=batch,
            verification=verification,
            language=[args.language],
        )
        return str(build_card(info, existing=existing))

    save_folder(ds, out, card=card, split=args.split, fetch=image_settings(vlm).url, spool=spool)
    return info


def example_row(ds, refined: str) -> dict | None:
    """The first row with a refined answer (the card's example), or None."""
    for row in ds.select_columns([c for c in ("vqa", refined) if c in ds.column_names]):
        if row.get(refined) is not None:
            return row
    return None


__all__ = ["example_row", "start_spool", "write_output"]


def start_spool(ds, args: argparse.Namespace, vlm: VLM, *, shard, batch):
    """The output spool (`publish.spool`) for this run, registered, or None where it cannot apply: only a
    folder output written from the generation map's rows as they are (no step that drops or changes rows
    after it), in one process."""
    import datasets

    from hf_vqa.publish import spool as spooling
    from hf_vqa.runner.warm import one_pass

    if (not spooling.enabled() or Path(args.output).suffix.lower() in (".json", ".jsonl") or args.filter
            or args.dedupe or args.verify or args.blind_check or args.repair_parse
            or not one_pass(args, shard=shard, batch=batch is not None)
            or getattr(args, "stream", False) or not isinstance(ds, datasets.Dataset) or not len(ds)):  # fmt: skip
        return None
    from hf_vqa.generate import image_settings, prompted_vqa
    from hf_vqa.images.columns import undecoded
    from hf_vqa.pipeline import refine_step, refine_step_kwargs
    from hf_vqa.publish.folder import _needed_bytes
    from hf_vqa.schema import features_after

    ds = undecoded(ds)
    needed = _needed_bytes(ds)
    try:  # the spool takes its space during the run: the request store must keep room to write
        if shutil.disk_usage(Path(args.output).resolve().parent).free < 2 * needed + 2**28:
            return None
    except OSError:
        return None
    refine = refine_step(PIPELINES[args.pipeline])
    features = features_after(features_after(ds, prompted_vqa), refine)
    spool = spooling.OutputSpool(args.output, features, n_rows=len(ds), refine=refine,
                                 refine_kwargs=refine_step_kwargs(args.language), fetch=image_settings(vlm).url,
                                 image_bytes=needed - int(ds.data.nbytes))  # fmt: skip
    spooling.register(spool)
    return spool
