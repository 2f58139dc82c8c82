"""Writing a run's output: seed records (`.json`/`.jsonl`) or a dataset folder with its card.

A rerun keeps the user's edits to the card, as pushes do. Heavy modules load inside the function.

Example:
    >>> info = write_output(ds, args, vlm, summary, mock=False, argv=sys.argv[1:])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
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
) -> RunInfo | None:
    """Write `ds` to `--output` (records, or a folder with its card); the card's `RunInfo`, None for records.

    `diversity` (the card's section) may be a function: it then runs while the parquet is written."""
    from hf_vqa.publish.records import export_records

    out = Path(args.output)
    if out.suffix.lower() in (".json", ".jsonl"):
        export_records(ds, out)
        return None
    from hf_vqa.generate import image_settings
    from hf_vqa.messages import instructions_sent
    from hf_vqa.publish.card import (  # imports huggingface_hub's card machinery: only when needed
        RunInfo,
        build_card,
    )
    from hf_vqa.publish.folder import save_folder

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

    save_folder(ds, out, card=card, split=args.split, fetch=image_settings(vlm).url)
    return info


def example_row(ds, refined: str) -> dict | None:
    """The first row with a refined answer (the card's example), or None."""
    for row in ds.select_columns([c for c in ("vqa", refined) if c in ds.column_names]):
        if row.get(refined) is not None:
            return row
    return None


__all__ = ["example_row", "write_output"]
