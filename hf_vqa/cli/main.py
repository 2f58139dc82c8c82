"""The command line: `python scripts/build_dataset.py image-vqa|context-vqa --input IN --output OUT`.

A thin layer over `io`, `pipeline`, `export` and `card`. Bad arguments, unreadable inputs and a
missing key give a one-line error and exit code 2; Ctrl-C exits 130 and says how to resume.

A job that already finished (same command, input and output untouched, 0 failed rows) is answered
from `jobs.py` before `datasets` is even imported: "up to date", nothing sent. `--force` runs it anyway.
So this module imports only light modules at the top; the heavy ones load inside the functions.

Example:
    $ python scripts/build_dataset.py image-vqa --input examples/sample/records.json --output out/ --mock
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hf_vqa.cli import cost as cost_cli
from hf_vqa.cli import jobs
from hf_vqa.cli.publish import add_publish_arguments, add_push_only_subcommand, run_push_only
from hf_vqa.cli.report import add_report_subcommand, dedupe_step, diversity_lines, run_report
from hf_vqa.cli.sharding import add_ray_arguments
from hf_vqa.cli.store import add_store_subcommand, run_store
from hf_vqa.errors import HfVqaError
from hf_vqa.spec import FILTER_NAMES, PIPELINES

if TYPE_CHECKING:  # the heavy modules (datasets, openai, PIL) load only when a job really runs
    from hf_vqa.config import VLM
    from hf_vqa.pipeline import Summary
    from hf_vqa.publish.card import RunInfo

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BUSY = 75  # EX_TEMPFAIL: another run is writing the same output; try again later
PIPELINE_NAMES = tuple(PIPELINES)  # from the typed spec, which does not import datasets


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="build_dataset.py", description="Turn images into VQA data with any OpenAI-compatible VLM."
    )
    sub = parser.add_subparsers(dest="pipeline", required=True, parser_class=_Parser)
    for name in PIPELINE_NAMES:
        p = sub.add_parser(name, help=f"run the {name} pipeline")
        p.add_argument(
            "--input",
            help="records .json/.jsonl, an image folder, a saved dataset or a Hub id",
        )
        p.add_argument(
            "--output", required=True, help="out.json / out.jsonl (seed records) or a folder (parquet + card)"
        )
        p.add_argument(
            "--base-url", default=None, help="OpenAI-compatible /v1 URL (default: $OPENAI_BASE_URL)"
        )
        p.add_argument("--model", default=os.environ.get("HF_VQA_MODEL", "gpt-4o-mini"))
        p.add_argument(
            "--api-key-env",
            default="OPENAI_API_KEY",
            help="NAME of the variable holding the key ('' for none)",
        )
        p.add_argument("--max-concurrency", type=int, default=16)
        p.add_argument("--num-proc", type=int, default=1)
        p.add_argument("--batch-size", type=int, default=None)
        p.add_argument("--timeout", type=float, default=60.0,
                       help="seconds for a whole request (connect, headers, body)")  # fmt: skip
        p.add_argument("--max-reply-bytes", type=int, default=8 * 1024 * 1024,
                       help="a larger reply is a failed row and nothing of it is kept")  # fmt: skip
        p.add_argument("--max-retries", type=int, default=6, help="retries of errors (5xx, timeouts, drops)")
        p.add_argument("--rpm", type=int, default=None, help="requests per minute, shared by all processes")
        p.add_argument("--tpm", type=int, default=None, help="tokens per minute, shared by all processes")
        p.add_argument("--rate-limit-wait", type=float, default=600.0,
                       help="seconds a row may keep waiting on 429s (they don't use up --max-retries)")  # fmt: skip
        p.add_argument("--temperature", type=float, default=0.0)
        p.add_argument("--max-tokens", type=int, default=None)
        p.add_argument("--system-prompt", default=None)
        p.add_argument("--prompt", default=None, help="instruction for rows without a human turn")
        p.add_argument("--image-column", default="image")
        p.add_argument("--conversation-column", default="conversation")
        p.add_argument("--split", default="train")
        p.add_argument(
            "--cache-dir", default=None, help="where the request store lives (default: $HF_VQA_CACHE)"
        )
        p.add_argument("--no-cache", action="store_true", help="don't read or write the request store")
        p.add_argument(
            "--allow-private-urls", action="store_true", help="let image URLs point at private addresses"
        )
        p.add_argument(
            "--price-in", type=float, default=None, help="USD per 1M prompt tokens (for the cost estimate)"
        )
        p.add_argument("--price-out", type=float, default=None, help="USD per 1M completion tokens")
        p.add_argument("--license", default="other")
        p.add_argument("--json-mode", action="store_true",
                       help="ask for JSON via response_format (only if the endpoint supports it)")  # fmt: skip
        p.add_argument("--filter", action="append", default=[], choices=FILTER_NAMES,
                       help="keep only rows passing this check (repeatable)")  # fmt: skip
        p.add_argument("--dedupe", action="store_true",
                       help="drop near-identical questions across the whole dataset (recorded in the card)")  # fmt: skip
        p.add_argument("--report", action="store_true",
                       help="also write <OUTPUT>_report.html: a self-contained page to look at the data")  # fmt: skip
        p.add_argument("--retry-failed", action="store_true",
                       help="read the existing --output, retry only its failed rows, write it back")  # fmt: skip
        p.add_argument(
            "--mock",
            nargs="?",
            const="always",
            choices=["always", "auto"],
            help="use the bundled MOCK VLM (auto: only when no --base-url/$OPENAI_BASE_URL is set)",
        )
        p.add_argument("--force", action="store_true",
                       help="run even if this exact job already finished (skip the up-to-date check)")  # fmt: skip
        add_publish_arguments(p)
        cost_cli.add_cost_arguments(p)
        add_ray_arguments(p)
    add_push_only_subcommand(sub)
    add_report_subcommand(sub)
    add_store_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.pipeline == "push-only":
        return run_push_only(args)
    if args.pipeline == "report":
        return run_report(args)
    if args.pipeline == "store":
        return run_store(args)
    mock_proc = None
    previous_handler = _quiet_workers_on_ctrl_c()
    try:
        mock = _uses_mock(args)
        job = jobs.job_key(args, mock=mock)  # before any work: the input as this run will read it
        done = None if args.dry_run else jobs.finished(job, args.output, args.cache_dir)
        if done is not None:
            _say(f"up to date: {args.output} (nothing sent; use --force to rebuild)")
            _say(("MOCK " if mock else "") + "done: " + done)
            return 0
        from hf_vqa.cli.lock import Busy, hold
        from hf_vqa.cli.publish import check_publish_args, publish, select_shard
        from hf_vqa.config import VLM
        from hf_vqa.datasets_internals import fingerprint
        from hf_vqa.inputs.load import load_input
        from hf_vqa.pipeline import filter_rows, run_pipeline

        check_publish_args(args)
        try:  # one run per output (and shard: job-array tasks may share an --output name)
            lock = hold(args.output, args.cache_dir, scope=str(getattr(args, "shard_spec", None) or ""))  # noqa: F841
        except Busy as err:
            sys.stderr.write(f"error: {err}\n")
            return EXIT_BUSY
        base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
        if mock:
            from hf_vqa.mock.server import start_subprocess

            mock_proc, base_url = start_subprocess()
            args.api_key_env = ""
            _say(
                "MOCK: using hf_vqa's bundled mock VLM at "
                + base_url
                + " — answers are synthetic, not a real model"
            )
        vlm = VLM(
            model="mock-vlm" if mock_proc else args.model,
            base_url=base_url or VLM().base_url,
            api_key_env=args.api_key_env,
            max_concurrency=args.max_concurrency,
            timeout=args.timeout,
            max_reply_bytes=args.max_reply_bytes,
            max_retries=args.max_retries,
            rpm=args.rpm,
            tpm=args.tpm,
            rate_limit_wait=args.rate_limit_wait,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            cache_dir=args.cache_dir,
            use_store=not args.no_cache,
            allow_private_urls=args.allow_private_urls,
        )
        if not args.dry_run:
            vlm.api_key()  # a missing key is a usage error, before any work
        if args.ray is not None and not args.dry_run:  # every shard as a Ray task; the tasks read the input
            from hf_vqa.cli.sharding import run_with_ray

            return run_with_ray(args, vlm, source=_input_of(args), mock=mock, command=_command_line())
        _check_output(args.output)
        ds = load_input(_input_of(args), split=args.split)
        ds = select_shard(ds, args)
        if args.dry_run:
            return cost_cli.dry_run(ds, args, vlm)
        batch = None
        if mock_proc is not None and cost_cli.batch_mode(args):
            args.wait = True  # the bundled mock's batches end with this process: collect them now
        if cost_cli.batch_mode(args):
            batch = cost_cli.batch_step(ds, args, vlm, _say)
            if isinstance(batch, int):
                return batch
        prices = (args.price_in or 0.0, args.price_out or 0.0) if (args.price_in or args.price_out) else None
        if prices is not None and batch is not None:  # the run was paid at the batch price
            prices = (prices[0] * args.batch_discount, prices[1] * args.batch_discount)
        ds, summary = run_pipeline(
            ds,
            args.pipeline,
            vlm=vlm,
            system_prompt=args.system_prompt,
            prompt=args.prompt,
            image_key=args.image_column,
            conversation_key=args.conversation_column,
            num_proc=args.num_proc,
            batch_size=args.batch_size,
            prices=prices,
            json_mode=args.json_mode,
            keep_existing=args.retry_failed and batch is None,
            progress=True,
            store_only=batch is not None,
            batch_errors=batch.errors if batch is not None else None,
        )
        ds, dedupe = dedupe_step(ds, args)
        if dedupe is not None and dedupe.removed:  # the check counts follow the pairs that are left
            from hf_vqa.pipeline import summarize

            refined = PIPELINES[args.pipeline].refined
            summary = summarize(ds, refined, seconds=summary.seconds, prices=prices)
        ds = filter_rows(ds, args.pipeline, args.filter)
        stats, diversity = diversity_lines(ds, args.pipeline, dedupe)
        info = None
        if jobs.holds(args.output, fingerprint(ds), args.cache_dir):
            _say(f"output unchanged since the last run: {args.output}")
        else:
            info = _write(ds, args, vlm, summary, mock=mock_proc is not None,
                          batch=batch.card if batch is not None else None, diversity=diversity)  # fmt: skip
            jobs.wrote(args.output, fingerprint(ds), args.cache_dir)
        code = publish(ds, args, info)
        if not code and summary.rows and not summary.failed:  # a job with failed rows is never done
            jobs.remember(job, args.output, summary.line(), args.cache_dir)
        if summary.failed and batch is not None:
            _say(f"{summary.failed} row(s) failed (see the vqa_error column); to resubmit only those: rerun "
                 "with --retry-failed (as a new batch with --batch, or online without it)")  # fmt: skip
        elif summary.failed:
            _say(f"{summary.failed} row(s) failed (see the vqa_error column); to ask again for only those: "
                 "rerun this command with --retry-failed")  # fmt: skip
        for line in stats:
            _say(line)
        if args.report:
            from hf_vqa.cli.report import write_run_report

            _say(write_run_report(ds, args.output, image_key=args.image_column))
        _say(("MOCK " if mock_proc else "") + "done: " + summary.line())  # stays the last line
        return code or (0 if summary.rows else 1)
    except HfVqaError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as err:
        if _caused_by_ctrl_c(err):  # datasets' num_proc pool turns Ctrl-C into a TimeoutError
            return _interrupted()
        if (full := _disk_full(err)) is not None:  # e.g. the datasets cache's disk: one line, no traceback
            sys.stderr.write(f"error: {full}\n")
            return EXIT_USAGE
        raise
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if mock_proc is not None:
            mock_proc.terminate()
            mock_proc.wait(timeout=10)


def _uses_mock(args: argparse.Namespace) -> bool:
    """True when the bundled mock VLM answers: `--mock`, or `--mock auto` with no endpoint set."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    return args.mock == "always" or (args.mock == "auto" and not base_url)


def _interrupted() -> int:
    client = sys.modules.get("hf_vqa.engine.client")  # not imported: no request was ever sent
    with contextlib.suppress(
        KeyboardInterrupt
    ):  # replies on the wire are paid for: let them land in the store
        if client is not None:
            client.drain_engines(timeout=3.0)
    sys.stderr.write(
        "\ninterrupted: finished replies are saved in the request store; "
        "rerun the same command to resume (only unfinished requests are sent).\n"
    )
    return EXIT_INTERRUPTED


def _caused_by_ctrl_c(err: BaseException) -> bool:
    """True if a KeyboardInterrupt is anywhere in `err`'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _disk_full(err: BaseException) -> str | None:
    """The one-line message if a full disk is anywhere in `err`'s cause/context chain, else None."""
    import errno

    from hf_vqa.publish.atomic import FULL_TEXTS, write_error

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        text = str(current)
        if isinstance(current, OSError) and (
            current.errno == errno.ENOSPC or any(t in text for t in FULL_TEXTS)
        ):
            where = (
                getattr(current, "filename", None)
                or os.environ.get("HF_DATASETS_CACHE")
                or "the datasets cache"
            )
            fix = "free some space there, or point HF_DATASETS_CACHE / --cache-dir at another disk"
            return str(write_error(current, where, fix=fix))
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _quiet_workers_on_ctrl_c():
    """Ctrl-C signals the whole process group. Only this process reacts: forked `num_proc` workers
    inherit this handler and ignore it (the pool terminates them), instead of each printing a
    traceback. Returns the previous handler, or None when not on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def on_sigint(signum: int, frame: object) -> None:
        if os.getpid() == parent:
            raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, on_sigint)


def _input_of(args: argparse.Namespace) -> str:
    if args.retry_failed and not (args.input and cost_cli.batch_mode(args)):
        if not Path(args.output).exists():
            raise HfVqaError("--retry-failed needs an existing --output to retry", received=args.output,
                             fix="run once without --retry-failed first")  # fmt: skip
        return args.output
    if not args.input:
        raise HfVqaError(
            "--input is required", fix="pass --input records.json (or --retry-failed on an output)"
        )
    return args.input


def _check_output(output: str) -> None:
    parent = Path(output).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HfVqaError("cannot create the output's folder", received=f"{parent}: {err.strerror}",
                         fix="pick a writable --output") from None  # fmt: skip


def _write(
    ds,
    args: argparse.Namespace,
    vlm: VLM,
    summary: Summary,
    *,
    mock: bool,
    batch: dict | None = None,
    diversity: str | None = None,
) -> RunInfo | None:
    from hf_vqa.publish.records import export_records

    out = Path(args.output)
    if out.suffix.lower() in (".json", ".jsonl"):
        export_records(ds, out)
        return None
    from hf_vqa.generate import image_settings
    from hf_vqa.publish.card import (  # imports huggingface_hub's card machinery: only when needed
        RunInfo,
        build_card,
    )
    from hf_vqa.publish.folder import save_folder

    spec = PIPELINES[args.pipeline]
    system_prompt, prompt = spec.instructions(args.system_prompt, args.prompt)  # what run_pipeline sent
    info = RunInfo.from_run(
        args.pipeline,
        vlm,
        summary,
        mock=mock,
        system_prompt=system_prompt,
        prompt=prompt,
        command=_command_line(),
        example=_example(ds, spec.refined),
        diversity=diversity,
        license=args.license,
        split=args.split,
        batch=batch,
    )
    save_folder(ds, out, card=str(build_card(info)), split=args.split, fetch=image_settings(vlm).url)
    return info


def _example(ds, refined: str) -> dict | None:
    for row in ds.select_columns([c for c in ("vqa", refined) if c in ds.column_names]):
        if row.get(refined) is not None:
            return row
    return None


def _command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["python", "scripts/build_dataset.py", *sys.argv[1:]])


def _say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "PIPELINE_NAMES",
    "build_parser",
    "main",
]
