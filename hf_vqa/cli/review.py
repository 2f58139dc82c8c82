"""`build_dataset.py review export|import`: send pairs to people (Label Studio), bring their verdicts back.

    review export --input OUT --to label-studio --url URL [--project NAME] [--sample N] [--seed S] [--where W]
    review export --input OUT --to label-studio-json FILE [--sample N] [--seed S] [--where W]
    review import --input OUT --from label-studio --url URL [--project NAME] --output OUT2
                  [--filter human-approved] [--apply-fixes]
    review import --input OUT --from FILE --output OUT2 ...

The Label Studio token is read from `$LABEL_STUDIO_API_KEY` (never from the command line, never written).
See docs/review.md for the labeling contract.

Example:
    $ python scripts/build_dataset.py review export --input out/ --to label-studio --url http://127.0.0.1:8080 --sample 50
    review export: 50 row(s) sampled, 50 task(s) made, 0 already there, 50 image(s) sent -> project ... (12.3 s)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from hf_vqa.cli.command import EXIT_OK, EXIT_USAGE

__all__ = ["add_review_subcommand", "run_review"]

_WHERE = ("failed", "not-grounded", "not-verified", "guessable")  # hf_vqa.review.export.WHERE (kept light)


def add_review_subcommand(subparsers: Any, **parser_kwargs: Any) -> argparse.ArgumentParser:
    """Add `review export` and `review import` to the CLI's subcommands."""
    what = "send pairs to people for review (Label Studio) and bring their verdicts back"
    p = subparsers.add_parser("review", help=what, description=f"review: {what}.", **parser_kwargs)
    sub = p.add_subparsers(dest="review_command", required=True, metavar="{export,import}", parser_class=type(p),
                           help="export: rows out to people; import: their verdicts back")  # fmt: skip
    env = ("environment:\n  LABEL_STUDIO_API_KEY  the Label Studio token (a personal access token or a legacy "
           "token)\n  LABEL_STUDIO_URL      the default --url")  # fmt: skip
    e = sub.add_parser(
        "export", help="one task per sampled row, to Label Studio or a file", epilog=env, **parser_kwargs
    )
    _common(e)
    e.add_argument("--to", nargs="+", required=True, metavar="TARGET",
                   help="'label-studio' (the server at --url), or 'label-studio-json FILE' (Label Studio's import "
                   "format, images inline; the labeling config goes beside it)")  # fmt: skip
    e.add_argument("--sample", type=_positive, help="how many rows (default: every row with pairs)")
    e.add_argument(
        "--seed", type=int, default=0, help="the sample's seed (the same seed picks the same rows)"
    )
    e.add_argument("--where", action="append", default=[], choices=_WHERE,
                   help="sample only rows that failed this check (repeatable: the sample is shared evenly "
                   "between them); not-verified and guessable need the verify pass's columns")  # fmt: skip
    i = sub.add_parser(
        "import", help="people's verdicts back, as the qa_human column", epilog=env, **parser_kwargs
    )
    _common(i)
    i.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                   help="'label-studio' (the server at --url), or FILE: Label Studio's JSON export")  # fmt: skip
    i.add_argument("--output", required=True, help="the new output folder (the input with qa_human)")
    i.add_argument("--filter", action="append", default=[], choices=["human-approved"],
                   help="keep only pairs people did not mark incorrect (unreviewed pairs stay, counted)")  # fmt: skip
    i.add_argument("--apply-fixes", action="store_true",
                   help="replace answers with people's corrections (old answers kept in qa_human_fixes)")  # fmt: skip
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="the output folder of an image-vqa or context-vqa run")
    p.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL"),
                   help="Label Studio's address, e.g. http://127.0.0.1:8080 (default: $LABEL_STUDIO_URL)")  # fmt: skip
    p.add_argument(
        "--project", help="the Label Studio project's title (default: 'hf_vqa review: <input name>')"
    )
    p.add_argument("--image-column", default="image", help="the column holding the image(s)")
    p.add_argument("--split", default="train", help="the split the folder holds")


def _target(values: list[str], flag: str, server: str, file_kind: str) -> str | None:
    """None for the server, else the file's path; a usage error for anything else."""
    from hf_vqa.errors import InputError

    if values == [server]:
        return None
    if flag == "--to" and len(values) == 2 and values[0] == file_kind:
        return values[1]
    if flag == "--from" and len(values) == 1 and values[0] not in (server, file_kind):
        return values[0]
    usage = f"{server} or {file_kind} FILE" if flag == "--to" else f"{server} or FILE (a JSON export)"
    raise InputError(f"{flag} takes {usage}", received=" ".join(values), fix=f"e.g. {flag} {server}")


def run_review(args: argparse.Namespace) -> int:
    """Run `review export` or `review import`; prints one summary line, returns the exit code."""
    from hf_vqa.errors import HfVqaError

    started = time.perf_counter()
    try:
        if args.review_command == "export":
            from hf_vqa.review.run import export_review

            file = _target(args.to, "--to", "label-studio", "label-studio-json")
            _need_url(args, file)
            done = export_review(args.input, url=args.url, project=args.project, file=file, sample=args.sample,
                                 seed=args.seed, where=args.where, image_key=args.image_column, split=args.split)  # fmt: skip
            line = done.line()
            if file is not None:
                from hf_vqa.review.files import config_path

                line += f" (labeling config: {config_path(file)})"
        else:
            from hf_vqa.review.run import import_review

            file = _target([args.source], "--from", "label-studio", "label-studio-json")
            _need_url(args, file)
            report = import_review(args.input, args.output, url=args.url, project=args.project, file=file,
                                   approved_only="human-approved" in args.filter, fixes=args.apply_fixes,
                                   split=args.split)  # fmt: skip
            line = report.line()
            if args.apply_fixes:
                line += f"; {report.fixes_applied} answer(s) replaced by people's corrections"
            if report.filter:
                f = report.filter
                line += (f"; human-approved: {f['pairs_dropped']} pair(s) dropped, {f['rows_dropped']} row(s) "
                         f"dropped, {f['unreviewed_kept']} unreviewed pair(s) kept")  # fmt: skip
            if report.agreement:
                line += f"; {report.agreement}"
            line += f" -> {args.output}"
    except HfVqaError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    print(f"{line} ({time.perf_counter() - started:.1f} s)", flush=True)
    return EXIT_OK


def _need_url(args: argparse.Namespace, file: str | None) -> None:
    from hf_vqa.errors import InputError

    if file is None and not args.url:
        raise InputError(
            "Label Studio's address is missing", fix="pass --url http://HOST:PORT or set LABEL_STUDIO_URL"
        )
