"""Looking at the data from the CLI: `build_dataset.py report --output OUT` (the HTML report of a finished
output folder), `--report` after a run, the diversity lines of the summary and `--dedupe`.

The page goes to `<OUT>_report.html` (next to the folder, so it is never pushed with the data) unless
`--html PATH` says otherwise; `--report` on a run writes the same file. See `hf_vqa.publish.report`.

Example:
    $ python scripts/build_dataset.py report --output out/
    report: out_report.html (12 rows; open it in any browser, it needs no network)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hf_vqa.cli.command import EXIT_OK, EXIT_USAGE
from hf_vqa.spec import PIPELINES

__all__ = [
    "add_report_subcommand",
    "dedupe_step",
    "default_report_path",
    "diversity_lines",
    "qas_key_of",
    "run_report",
    "write_run_report",
]


def add_report_subcommand(subparsers: Any, **parser_kwargs: Any) -> argparse.ArgumentParser:
    """Add the `report` subcommand to the CLI's subparsers."""
    what = "write a self-contained HTML page to look at an output folder"
    p = subparsers.add_parser("report", help=what, description=f"report: {what}.", **parser_kwargs)
    p.add_argument("--output", required=True, help="the output folder of a finished run")
    p.add_argument("--html", default=None, help="where the page goes (default: <OUTPUT>_report.html)")
    p.add_argument("--split", default="train", help="the split the folder holds")
    p.add_argument("--image-column", default="image", help="the column holding the image(s)")
    p.add_argument("--max-rows", type=int, default=500, help="rows shown in the gallery (charts count all)")
    return p


def default_report_path(output: str) -> Path:
    """`out/` -> `out_report.html`; `out.jsonl` -> `out_report.html`.

    Example:
        >>> str(default_report_path("runs/out/"))
        'runs/out_report.html'
    """
    path = Path(str(output).rstrip("/"))
    stem = path.with_suffix("") if path.suffix.lower() in (".json", ".jsonl") else path
    return stem.with_name(stem.name + "_report.html")


def dedupe_step(ds: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """`--dedupe`: drop near-identical questions across the dataset; (data, report or None)."""
    if not args.dedupe:
        return ds, None
    from hf_vqa.quality.dedupe import dedupe_questions

    return dedupe_questions(ds, qas_key_of(args.pipeline))


def qas_key_of(pipeline: str) -> str:
    """Where a pipeline's pairs are: `qas` or `context_vqa.qas`."""
    refined = PIPELINES[pipeline].refined
    return refined if refined == "qas" else f"{refined}.qas"


def diversity_lines(ds: Any, pipeline: str, dedupe: Any) -> tuple[list[str], str]:
    """The diversity lines for the summary, and the card's "Diversity and shape" section."""
    from hf_vqa.quality.diversity import dataset_stats

    stats = dataset_stats(ds, qas_key_of(pipeline))
    lines = stats.lines()
    card = stats.markdown()
    if dedupe is not None:
        lines.append(
            f"dedupe: dropped {dedupe.removed} near-identical question(s) in {dedupe.rows_touched} row(s)"
        )
        card += (f"\n\n`--dedupe` dropped {dedupe.removed} near-identical question(s) across the dataset "
                 f"({dedupe.rows_touched} row(s) touched, {dedupe.rows_emptied} left without pairs); rule: "
                 f"{dedupe.rule}. The counts above are after deduplication.")  # fmt: skip
    return lines, card


def _mock_card(output: str) -> bool:
    """True when the output folder's card says its answers came from the bundled mock."""
    try:
        text = (Path(output) / "README.md").read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return False
    header = text.split("\n---", 1)[0] if text.startswith("---") else ""
    return "\n- mock\n" in header or "mock: true" in header or "> **Mock data.**" in text


def _pipeline_of(ds: Any) -> str:
    return "context-vqa" if "context_vqa" in ds.column_names else "image-vqa"


def write_run_report(ds: Any, output: str, *, image_key: str = "image", max_rows: int = 500,
                     html: str | None = None, mock: bool | None = None) -> str:  # fmt: skip
    """Write the report of `ds` (the data a run just made); return the line to show the user.

    `mock`: the bundled mock answered (None: read it from the output folder's card)."""
    from hf_vqa.publish.report import write_report

    target = Path(html) if html else default_report_path(output)
    mock = _mock_card(output) if mock is None else mock
    path = write_report(ds, target, pipeline=_pipeline_of(ds), image_key=image_key, max_rows=max_rows,
                        title=f"{_pipeline_of(ds)}: {Path(str(output).rstrip('/')).name}", mock=mock)  # fmt: skip
    return f"report: {path} ({len(ds)} rows; open it in any browser, it needs no network)"


def run_report(args: argparse.Namespace) -> int:
    """The `report` subcommand: read the folder's parquet files, write the page."""
    from hf_vqa.errors import HfVqaError
    from hf_vqa.publish.read_folder import read_output_folder

    try:
        ds = read_output_folder(args.output, args.split)
        print(write_run_report(ds, args.output, image_key=args.image_column, max_rows=args.max_rows,
                               html=args.html), flush=True)  # fmt: skip
    except HfVqaError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    return EXIT_OK
