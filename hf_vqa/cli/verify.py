"""The `verify` subcommand: the verify (and blind) pass over an existing output folder (the pipeline
commands' `--verify` / `--blind-check` are in `cli/quality.py`).

    build_dataset.py verify --input OUT_FOLDER --output VERIFIED [--judge-model M] [--judge-base-url U]
                            [--judge-api-key-env NAME] [--mock] [--labels L] [--blind-check] [--judge-votes K]
                            [--filter verified] [--filter not-guessable]

The judge is by default the generating endpoint and model (for `verify`: the input card's model at
`$OPENAI_BASE_URL`); its key is read from the variable `--judge-api-key-env` names, never from the
command line. Its requests go through the same engine and store as generation: a killed run resumes
from the store, nothing is paid twice.

Example:
    $ python scripts/build_dataset.py verify --input out/x --output out/x-verified --mock --labels labels.jsonl
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hf_vqa.cli.command import EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, command_line
from hf_vqa.cli.quality import add_quality_arguments, judge_from, quality_step
from hf_vqa.config import DEFAULT_BASE_URL, VLM
from hf_vqa.errors import HfVqaError
from hf_vqa.spec import FILTER_NAMES

__all__ = ["add_verify_subcommand", "run_verify"]


def add_verify_subcommand(subparsers: Any, **parser_kwargs: Any) -> argparse.ArgumentParser:
    """Add `verify` to the CLI's subparsers."""
    what = "judge every pair of an existing output folder (and optionally measure the judge against people)"
    p = subparsers.add_parser("verify", help=what, description=f"verify: {what}.", **parser_kwargs)
    p.add_argument("--input", required=True, help="the output folder of a finished run")
    p.add_argument("--output", required=True,
                   help="where the verified folder goes (may be --input), or out.json / out.jsonl records")  # fmt: skip
    p.add_argument(
        "--labels", help="human labels: a JSONL of {row, pair, correct}, or a folder with qa_human"
    )
    p.add_argument(
        "--mock",
        action="store_true",
        help="judge with the bundled MOCK VLM (honest from each image's size and colour)",
    )
    p.add_argument("--model", default=None, help=argparse.SUPPRESS)
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="NAME of the variable holding the key")
    p.add_argument("--filter", action="append", default=[], choices=FILTER_NAMES,
                   help="keep only rows/pairs passing this check (repeatable)")  # fmt: skip
    p.add_argument("--max-concurrency", type=int, default=VLM.max_concurrency, help="requests in flight")
    p.add_argument("--num-proc", type=int, default=1, help="processes (datasets' map num_proc)")
    p.add_argument(
        "--batch-size", type=int, help="rows per map batch (default: max(64, 8 x --max-concurrency))"
    )
    p.add_argument("--timeout", type=float, default=VLM.timeout, help="seconds for a whole request")
    p.add_argument("--max-retries", type=int, default=VLM.max_retries, help="retries of errors")
    p.add_argument("--rpm", type=int, help="requests per minute, shared by all processes")
    p.add_argument("--tpm", type=int, help="tokens per minute, shared by all processes")
    p.add_argument("--cache-dir", help="where the request store lives")
    p.add_argument("--no-cache", action="store_true", help="don't read or write the request store")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="keep the verdicts --output has; judge only the rows that failed",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="count the judge's and blind requests and tokens; send nothing"
    )
    p.add_argument("--report", action="store_true", help="also write <OUTPUT>_report.html")
    p.add_argument(
        "--batch",
        action="store_true",
        help="send the judge's requests as a batch (/v1/batches); rerun to collect",
    )
    p.add_argument("--wait", action="store_true", help="with --batch: poll until every batch ended")
    p.add_argument("--wait-timeout", type=float, default=25 * 3600.0, metavar="SECONDS",
                   help="with --wait: stop polling after this long, naming the batch ids (default 90000 = 25 h)")  # fmt: skip
    p.add_argument("--batch-poll", type=float, default=60.0, metavar="SECONDS", help="polling interval")
    p.add_argument("--batch-window", default="24h", help="completion window sent to the provider")
    p.add_argument("--batch-max-requests", type=int, default=50_000, help="requests per batch file")
    p.add_argument("--batch-max-bytes", type=int, default=200 * 1024 * 1024, help="bytes per batch file")
    p.add_argument("--split", default="train", help="the split the folder holds")
    p.add_argument("--image-column", default="image", help="the column holding the image(s)")
    p.add_argument(
        "--allow-private-urls", action="store_true", help="let image URLs point at private addresses"
    )
    add_quality_arguments(p, subcommand=True)
    return p


def run_verify(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """The `verify` subcommand (see the module docstring); returns the exit code."""
    from hf_vqa.cli.interrupts import caused_by_ctrl_c, interrupted

    mock_proc = None
    from hf_vqa.config import cache_folder

    cache_folder(args.cache_dir).mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix="verify-", dir=cache_folder(args.cache_dir))
    try:
        from hf_vqa.images.columns import undecoded

        source = args.output if args.retry_failed else args.input
        ds = undecoded(_on_disk(source, args.split, Path(scratch.name)))
        readme = Path(source) / "README.md"
        card_text = readme.read_text(encoding="utf-8") if readme.is_file() else None
        from hf_vqa.publish.card import RunInfo

        info = RunInfo.from_card(card_text) if card_text else None
        model = (
            args.judge_model or (info.model if info else None) or os.environ.get("HF_VQA_MODEL") or VLM.model
        )
        base_url = args.judge_base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        vlm = VLM(model=model, base_url=base_url, api_key_env=args.api_key_env, max_concurrency=args.max_concurrency,
                  timeout=args.timeout, max_retries=args.max_retries, rpm=args.rpm, tpm=args.tpm,
                  cache_dir=args.cache_dir, use_store=not args.no_cache,
                  allow_private_urls=args.allow_private_urls)  # fmt: skip
        if args.mock:
            from hf_vqa.mock.server import start_subprocess

            mock_proc, mock_url = start_subprocess()
            _say(
                f"MOCK: judging with hf_vqa's bundled mock VLM at {mock_url} — it knows only each image's size and colour"
            )
            judge = judge_from(args, vlm, mock_url=mock_url)
        else:
            judge = judge_from(args, vlm)
            if not args.dry_run:
                judge.api_key()  # a missing key is a usage error, before any work
        if args.dry_run:
            from hf_vqa.quality.summary import estimate_quality

            est = estimate_quality(ds, judge, votes=args.judge_votes, blind=judge if args.blind_check else None,
                                   image_key=args.image_column)  # fmt: skip
            _say(f"DRY RUN verify rows={len(ds)} judge_requests={est['judge_requests']} "
                 f"blind_requests={est['blind_requests']} in_store={est['in_store']} "
                 f"prompt_tokens~{est['prompt_tokens']}")  # fmt: skip
            return EXIT_OK
        batch = None
        if args.batch:  # the bundled mock's batches end with this process: collect them now
            batch = _batch_step(ds, args, judge, wait=True if mock_proc is not None else args.wait)
            if isinstance(batch, int):
                return batch
        labels = args.labels
        ds, record, counts = quality_step(ds, args, judge, verify=True, keep_existing=args.retry_failed, batch=batch,
                                          labels=labels, labels_name=Path(labels).name if labels else None)  # fmt: skip
        _write(ds, args, info, judge, record, card_text, argv or sys.argv[1:], mock=mock_proc is not None)
        if record.get("agreement"):
            from hf_vqa.quality.agreement import Agreement

            _say(Agreement(**record["agreement"]).line())
        if record.get("filters"):
            f = record["filters"]
            _say(
                f"filters {' '.join(f['filters'])}: dropped {f['pairs_dropped']} pair(s), {f['rows_dropped']} row(s)"
            )
        if args.report:
            from hf_vqa.cli.report import write_run_report

            _say(write_run_report(ds, args.output, image_key=args.image_column))
        if counts.rows_failed:
            retry = [*argv, "--retry-failed"] if argv and "--retry-failed" not in argv else argv or []
            _say(f"the judge failed on {counts.rows_failed} row(s) (see qa_verdicts_error); to ask again for only "
                 f"those: {command_line(retry)}")  # fmt: skip
        _say(("MOCK " if mock_proc else "") + f"done: rows={len(ds)} pairs={counts.pairs} {counts.line()} "
             f"not_judged={counts.failed}")  # fmt: skip
        return EXIT_INCOMPLETE if counts.pairs and counts.failed == counts.pairs else EXIT_OK
    except HfVqaError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return interrupted()
    except Exception as err:
        if caused_by_ctrl_c(err):
            return interrupted() or EXIT_INTERRUPTED
        raise
    finally:
        if mock_proc is not None:
            mock_proc.terminate()
            mock_proc.wait(timeout=10)
        scratch.cleanup()


def _on_disk(folder: str, split: str, scratch: Path) -> Any:
    """The folder's rows as one memory-mapped Arrow file in `scratch`: the judge's requests then keep
    flowing across map batches (`runner.lookahead` reads ahead from that file), and no map result is
    held in memory."""
    import datasets
    import pyarrow as pa

    from hf_vqa.publish.read_folder import read_output_folder

    table = read_output_folder(folder, split).data.table
    path = scratch / "input.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=1000):
            writer.write_batch(batch)
    del table
    return datasets.Dataset.from_file(str(path))


def _batch_step(ds: Any, args: argparse.Namespace, judge: VLM, *, wait: bool) -> Any:
    """`--batch`: the judge's (and blind) requests through /v1/files + /v1/batches; rerun to poll and collect.

    A `BatchOutcome` when every batch was collected (the map then reads every verdict from the store),
    else the exit code.
    """
    from hf_vqa.batch.manifest import manifest_path
    from hf_vqa.batch.run import Limits, advance
    from hf_vqa.quality.blind import blind_requests
    from hf_vqa.quality.pairs import qas_key_for
    from hf_vqa.quality.verify import judge_requests

    qas_key = qas_key_for(ds.column_names)

    def requests_of(row: dict) -> list:
        out = judge_requests(row, judge, image_key=args.image_column, qas_key=qas_key, votes=args.judge_votes)
        return out + (blind_requests(row, judge, qas_key=qas_key) if args.blind_check else [])

    limits = Limits(max_requests=args.batch_max_requests, max_bytes=args.batch_max_bytes, window=args.batch_window,
                    poll=args.batch_poll, max_wait=args.wait_timeout)  # fmt: skip
    path = manifest_path(args.output)
    m = advance(ds, judge, path, {"image_key": args.image_column, "requests_of": requests_of}, limits=limits,
                wait=wait, retry_failed=args.retry_failed, say=_say)  # fmt: skip
    if not m.done:
        _say(
            f"batch: still running; manifest {path}. Rerun this command to collect (add --wait to poll until done)"
        )
        return EXIT_OK
    counts = m.counts()
    card = {"mode": "batch", "window": m.window, "batch_ids": [c.batch_id for c in m.chunks if c.batch_id],
            "requests": counts["requests"], "completed": counts["completed"], "failed": counts["failed"]}  # fmt: skip
    return SimpleNamespace(errors=dict(m.errors), card=card)  # as cli.cost.BatchOutcome


def _write(ds: Any, args: argparse.Namespace, info: Any, judge: VLM, record: dict, card_text: str | None,
           argv: list[str], *, mock: bool) -> None:  # fmt: skip
    from hf_vqa.publish.card import RunInfo, build_card
    from hf_vqa.publish.folder import save_folder
    from hf_vqa.quality.pairs import qas_key_for
    from hf_vqa.runner.rows import image_settings

    pipeline = "context-vqa" if qas_key_for(ds.column_names) != "qas" else "image-vqa"
    if info is None:
        info = RunInfo(pipeline=pipeline, model=judge.model, endpoint_host=judge.host, rows=len(ds), failed=0)
    info.rows = len(ds)
    info.mock = info.mock or mock
    earlier = info.verification or {}
    if "blind_model" in earlier and "blind_model" not in record and "qa_blind" in ds.column_names:
        record["blind_model"] = earlier["blind_model"]  # the input's blind pass, kept
    info.verification = {**record, "command": command_line(argv)}
    out = Path(args.output)
    if out.suffix.lower() in (".json", ".jsonl"):  # seed records, verdicts included; no card
        from hf_vqa.publish.records import export_records

        export_records(ds, out)
        return
    existing = card_text if out.resolve() == Path(args.input).resolve() or args.retry_failed else None
    card = str(build_card(info, existing=existing))
    save_folder(ds, out, card=card, split=args.split, fetch=image_settings(judge).url)


def _say(text: str) -> None:
    print(text, flush=True)
