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
import signal
import sys
import textwrap
import threading
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING

from hf_vqa.cli import cost as cost_cli
from hf_vqa.cli import jobs
from hf_vqa.cli.command import (
    CONSOLE_SCRIPT,
    EXIT_BUSY,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PUSH_FAILED,
    EXIT_USAGE,
    SCRIPT,
    command_line,
    invocation,
)
from hf_vqa.cli.publish import add_publish_arguments, add_push_only_subcommand, run_push_only
from hf_vqa.cli.report import add_report_subcommand, dedupe_step, diversity_lines, run_report
from hf_vqa.cli.sharding import add_ray_arguments
from hf_vqa.cli.store import add_store_subcommand, run_store
from hf_vqa.config import DEFAULT_BASE_URL, VLM  # light: no datasets, no openai
from hf_vqa.errors import HfVqaError
from hf_vqa.spec import FILTER_NAMES, PIPELINES

if TYPE_CHECKING:  # the heavy modules (datasets, openai, PIL) load only when a job really runs
    from hf_vqa.pipeline import Summary
    from hf_vqa.publish.card import RunInfo

PIPELINE_NAMES = tuple(PIPELINES)  # from the typed spec, which does not import datasets
_VLM = {f.name: f.default for f in fields(VLM) if f.default is not MISSING}  # the library's defaults

ENVIRONMENT = f"""environment:
  OPENAI_BASE_URL     the endpoint when --base-url is not given (else {DEFAULT_BASE_URL})
  OPENAI_API_KEY      the key; another variable with --api-key-env NAME ('' for none)
  OPENAI_ORG_ID, OPENAI_PROJECT_ID   sent as headers when set
  HF_VQA_MODEL        the default --model
  HF_VQA_CACHE        the request store's folder (else $HF_HOME/hf_vqa, else ~/.cache/huggingface/hf_vqa)
  HF_TOKEN            the Hub token for --push-to-hub (else the one saved by `hf auth login`)
  HF_ENDPOINT         the Hub's address (default https://huggingface.co)
  HTTPS_PROXY, NO_PROXY              proxies, read once
  HF_VQA_HTTP=httpx   send through the SDK's httpx client instead of aiohttp

exit codes:
  {EXIT_OK} done; {EXIT_INCOMPLETE} not all done (every row failed, no input rows, a Ray shard not in, a damaged store);
  {EXIT_USAGE} bad arguments, unreadable input, a missing key, or an endpoint that refused the run (wrong key, model or URL);
  {EXIT_PUSH_FAILED} the push failed (the output is intact); {EXIT_BUSY} another run is writing the same output (try later);
  {EXIT_INTERRUPTED} interrupted (rerun the same command to resume)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(EXIT_USAGE)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Every option with a default shows it; options that are off or unset by default don't say so."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default in ([], argparse.SUPPRESS)
        if unset or not action.option_strings or "%(default)" in text or "(default" in text:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The whole command line: one subcommand per pipeline (the options below) and `push-only`.

    `prog` defaults to how this process was started (`hf-vqa`, or `scripts/build_dataset.py`).

    Example:
        >>> args = build_parser().parse_args(["image-vqa", "--input", "in.json", "--output", "out"])
        >>> args.max_concurrency == VLM().max_concurrency, args.temperature  # None: not sent
        (True, None)
    """
    words = invocation()
    prog = prog or (words[0] if words == [CONSOLE_SCRIPT] else SCRIPT)
    parser = _Parser(prog=prog, description="Turn images into VQA data with any OpenAI-compatible VLM, "
                     "and publish it as a Hugging Face dataset.", epilog=ENVIRONMENT, formatter_class=_Help)  # fmt: skip
    sub = parser.add_subparsers(dest="pipeline", required=True, parser_class=_Parser, title="commands",
                                metavar="{" + ",".join([*PIPELINE_NAMES, "push-only", "report", "store"]) + "}")  # fmt: skip
    for spec in PIPELINES.values():
        example = (
            f"example:\n  {prog} {spec.name} --input examples/sample/records.json --output out/x --mock auto"
        )
        p = sub.add_parser(spec.name, help=f"run the {spec.name} pipeline", formatter_class=_Help,
                           description=textwrap.fill(f"{spec.name}: {spec.description}", 100), epilog=f"{example}\n\n{ENVIRONMENT}")  # fmt: skip
        _add_pipeline_arguments(p)
    add_push_only_subcommand(sub, formatter_class=_Help, epilog=ENVIRONMENT)
    add_report_subcommand(sub, formatter_class=_Help)
    add_store_subcommand(sub, formatter_class=_Help)
    return parser


def _add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    """A pipeline subcommand's options, in the README's groups. Defaults are `VLM`'s own."""
    g = p.add_argument_group("required")
    g.add_argument("--input", help="records .json/.jsonl, an image folder, a saved dataset or a Hub dataset id "
                   "(required, except with --retry-failed)")  # fmt: skip
    g.add_argument("--output", required=True,
                   help="out.json / out.jsonl (seed records) or a folder (parquet + README.md card)")  # fmt: skip

    g = p.add_argument_group("endpoint")
    g.add_argument(
        "--base-url", help=f"OpenAI-compatible /v1 URL (default: $OPENAI_BASE_URL, else {DEFAULT_BASE_URL})"
    )
    g.add_argument("--model", default=os.environ.get("HF_VQA_MODEL") or _VLM["model"],
                   help="model name ($HF_VQA_MODEL, when set, is the default)")  # fmt: skip
    g.add_argument("--api-key-env", default=_VLM["api_key_env"],
                   help="NAME of the environment variable holding the key ('' for endpoints without auth)")  # fmt: skip
    g.add_argument("--mock", nargs="?", const="always", choices=["always", "auto"],
                   help="use the bundled MOCK VLM (synthetic answers); auto: only when no --base-url or "
                   "$OPENAI_BASE_URL is set")  # fmt: skip

    g = p.add_argument_group("sending")
    g.add_argument("--max-concurrency", type=int, default=_VLM["max_concurrency"],
                   help="requests in flight (split across --num-proc processes)")  # fmt: skip
    g.add_argument("--num-proc", type=int, default=1, help="processes (datasets' map num_proc)")
    g.add_argument(
        "--batch-size", type=int, help="rows per map batch (default: max(64, 8 x --max-concurrency))"
    )
    g.add_argument("--timeout", type=float, default=_VLM["timeout"],
                   help="seconds for a whole request (connect, headers, body)")  # fmt: skip
    g.add_argument("--max-reply-bytes", type=int, default=_VLM["max_reply_bytes"],
                   help="a larger reply is a failed row and nothing of it is kept")  # fmt: skip
    g.add_argument("--max-retries", type=int, default=_VLM["max_retries"],
                   help="retries of errors (5xx, timeouts, dropped connections)")  # fmt: skip

    g = p.add_argument_group("rate limits")
    g.add_argument("--rpm", type=int, help="requests per minute, shared by all processes (default: no limit)")
    g.add_argument("--tpm", type=int, help="tokens per minute, shared by all processes (default: no limit)")
    g.add_argument("--rate-limit-wait", type=float, default=_VLM["rate_limit_wait"],
                   help="seconds a row may keep waiting on 429s (they don't use up --max-retries)")  # fmt: skip

    g = p.add_argument_group("generation")
    g.add_argument("--temperature", type=float, default=_VLM["temperature"],
                   help="sampling temperature (default: not sent, the endpoint's own default)")  # fmt: skip
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default: not sent)")
    g.add_argument("--max-tokens", type=int, default=_VLM["max_tokens"],
                   help="cap on each reply's tokens, sent as max_tokens, or as max_completion_tokens where the "
                   "endpoint asks for it (default: the endpoint's)")  # fmt: skip
    g.add_argument("--reasoning-effort", help="reasoning_effort for reasoning models, e.g. minimal, low, medium, "
                   "high (default: not sent)")  # fmt: skip

    g = p.add_argument_group("provider-specific")
    g.add_argument("--stream", action="store_true",
                   help="ask for server-sent events (stream=true); used anyway when the endpoint requires it")  # fmt: skip
    g.add_argument("--extra-body", metavar="JSON",
                   help='fields merged into every request, e.g. \'{"enable_thinking": false}\' (default: none)')  # fmt: skip
    g.add_argument("--image-detail", choices=["low", "high", "auto"],
                   help="OpenAI-style image_url.detail (default: not sent)")  # fmt: skip
    g.add_argument("--system-prompt", help="system prompt ('' sends none; default: the pipeline's)")
    g.add_argument("--prompt", help="instruction for rows without a human turn (default: the pipeline's)")
    g.add_argument("--json-mode", action="store_true",
                   help="ask for JSON via response_format (only if the endpoint supports it)")  # fmt: skip

    g = p.add_argument_group("input")
    g.add_argument("--image-column", default="image", help="the column holding the image(s)")
    g.add_argument(
        "--conversation-column", default="conversation", help="the column holding the conversation"
    )
    g.add_argument("--split", default="train", help="the split to read (Hub or saved input) and to write")
    g.add_argument("--allow-private-urls", action="store_true",
                   help="let image URLs point at private addresses (localhost, 10.x, ...)")  # fmt: skip

    g = p.add_argument_group("store and reruns")
    g.add_argument("--cache-dir", help="where the request store lives (default: $HF_VQA_CACHE, else "
                   "$HF_HOME/hf_vqa)")  # fmt: skip
    g.add_argument("--no-cache", action="store_true", help="don't read or write the request store")
    g.add_argument("--retry-failed", action="store_true",
                   help="read the existing --output, retry only its failed rows, write it back")  # fmt: skip
    g.add_argument("--force", action="store_true",
                   help="run even if this exact job already finished (skip the up-to-date check)")  # fmt: skip

    g = p.add_argument_group("checks and cost")
    g.add_argument("--filter", action="append", default=[], choices=FILTER_NAMES,
                   help="keep only rows passing this check (repeatable; default: keep every row)")  # fmt: skip
    g.add_argument("--dedupe", action="store_true",
                   help="drop near-identical questions across the whole dataset (recorded in the card)")  # fmt: skip
    g.add_argument("--price-in", type=float, help="USD per 1M prompt tokens (for the cost estimate)")
    g.add_argument("--price-out", type=float, help="USD per 1M completion tokens (for the cost estimate)")

    cost_cli.add_cost_arguments(p)  # its own group: "cost and batch"
    add_ray_arguments(p)  # its own group: "running on a Ray cluster"

    g = p.add_argument_group("publishing")
    g.add_argument("--license", default="other", help="the card's license (e.g. cc-by-4.0)")
    g.add_argument("--report", action="store_true",
                   help="also write <OUTPUT>_report.html: a self-contained page to look at the data")  # fmt: skip
    add_publish_arguments(g)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
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
            return EXIT_OK
        from hf_vqa.cli.lock import Busy, hold
        from hf_vqa.cli.publish import check_publish_args, publish, select_shard
        from hf_vqa.datasets_internals import fingerprint
        from hf_vqa.images.columns import undecoded
        from hf_vqa.inputs.load import load_input
        from hf_vqa.pipeline import filter_rows, run_pipeline

        shard = check_publish_args(args)
        try:  # one run per output (and shard: job-array tasks may share an --output name)
            lock = hold(args.output, args.cache_dir, scope=str(shard or ""))  # noqa: F841
        except Busy as err:
            sys.stderr.write(f"error: {err}\n")
            return EXIT_BUSY
        source = _input_of(args)  # before the mock starts: a missing --input says so first
        _check_output(args.output)
        vlm = _vlm(args, args.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        if not mock and not args.dry_run:
            vlm.api_key()  # a missing key is a usage error, before any work
        ray = args.ray is not None and not args.dry_run  # every shard as a Ray task; the tasks read the input
        ds = (
            None if ray else select_shard(load_input(source, split=args.split), args, shard)
        )  # before the mock
        if mock:
            from hf_vqa.mock.server import start_subprocess

            mock_proc, base_url = start_subprocess()
            _say(
                f"MOCK: using hf_vqa's bundled mock VLM at {base_url} — answers are synthetic, not a real model"
            )
            vlm = _vlm(args, base_url, model="mock-vlm", api_key_env="")
        if ray:
            from hf_vqa.cli.sharding import run_with_ray

            return run_with_ray(args, vlm, source=source, mock=mock, command=command_line(argv))
        if args.dry_run:
            return cost_cli.dry_run(ds, args, vlm)
        batch = None
        if cost_cli.batch_mode(args):  # the bundled mock's batches end with this process: collect them now
            batch = cost_cli.batch_step(ds, args, vlm, _say, wait=True if mock_proc is not None else None)
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
        ds = undecoded(ds)  # the CLI's own steps never need pixels (run_pipeline hands images decodable)
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
            info = _write(ds, args, vlm, summary, mock=mock_proc is not None, argv=argv,
                          batch=batch.card if batch is not None else None, diversity=diversity)  # fmt: skip
            jobs.wrote(args.output, fingerprint(ds), args.cache_dir)
        code = publish(ds, args, info, shard)
        if not code and summary.rows and not summary.failed:  # a job with failed rows is never done
            jobs.remember(job, args.output, summary.line(), args.cache_dir)
        hint = _parse_hint(ds, args, summary)
        if hint:
            _say(hint)
        retry = argv if "--retry-failed" in argv else [*argv, "--retry-failed"]
        if summary.failed and batch is not None:
            _say(f"{summary.failed} row(s) failed (see the vqa_error column); to resubmit only those: "
                 f"{command_line(retry)} (as a new batch with --batch, or online without it)")  # fmt: skip
        elif summary.failed:
            _say(f"{summary.failed} row(s) failed (see the vqa_error column); to ask again for only those: "
                 + command_line(retry))  # fmt: skip
        for line in stats:
            _say(line)
        if args.report:
            from hf_vqa.cli.report import write_run_report

            _say(write_run_report(ds, args.output, image_key=args.image_column))
        _say(("MOCK " if mock_proc else "") + "done: " + summary.line())  # stays the last line
        if summary.rows and summary.failed == summary.rows:  # nothing answered: not a success
            sys.stderr.write(f"error: every row failed ({summary.failed}); see the vqa_error column\n")
            return code or EXIT_INCOMPLETE
        return code or (EXIT_OK if summary.rows else EXIT_INCOMPLETE)
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


def _vlm(
    args: argparse.Namespace, base_url: str, *, model: str | None = None, api_key_env: str | None = None
) -> VLM:
    """The run's `VLM` from the command line (the mock's URL, model and no key when it answers)."""
    return VLM(
        model=model or args.model,
        base_url=base_url,
        api_key_env=args.api_key_env if api_key_env is None else api_key_env,
        max_concurrency=args.max_concurrency,
        timeout=args.timeout,
        max_reply_bytes=args.max_reply_bytes,
        max_retries=args.max_retries,
        rpm=args.rpm,
        tpm=args.tpm,
        rate_limit_wait=args.rate_limit_wait,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        reasoning_effort=args.reasoning_effort,
        stream=args.stream,
        extra_body=args.extra_body,
        image_detail=args.image_detail,
        cache_dir=args.cache_dir,
        use_store=not args.no_cache,
        allow_private_urls=args.allow_private_urls,
    )


def _parse_hint(ds, args: argparse.Namespace, summary: Summary) -> str | None:
    """Why (nearly) every reply failed to parse, and what to do; None when most replies parsed."""
    if not summary.succeeded or summary.parse_failed < 0.9 * summary.succeeded:
        return None
    from hf_vqa.messages import human_turn

    spec = PIPELINES[args.pipeline]
    column = args.conversation_column
    sample = ds.select_columns([column]).select(range(min(len(ds), 100))) if column in ds.column_names else []
    own = any(human_turn(row[column]) for row in sample)
    head = f"{summary.parse_failed} of {summary.succeeded} replies could not be parsed into `{spec.refined}`"
    if own:
        return (f"{head}: the records carry their own instructions (a human turn), which were sent instead of "
                f"{spec.name}'s and ask for another layout. Fix: for {spec.name}, give records without a "
                "conversation or an image folder (e.g. --input examples/sample/images), so its instruction is sent")  # fmt: skip
    return (f"{head}: the model did not answer in the layout the instruction asks for. Fix: look at the raw "
            "replies in the `vqa` column; try --json-mode if the endpoint supports it, or a clearer --prompt")  # fmt: skip


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
    argv: list[str],
    batch: dict | None = None,
    diversity: str | None = None,
) -> RunInfo | None:
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
    system_prompt, prompt = spec.instructions(args.system_prompt, args.prompt)  # what run_pipeline sent
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
        example=_example(ds, spec.refined),
        diversity=diversity,
        license=args.license,
        split=args.split,
        batch=batch,
    )
    readme = out / "README.md"  # a rerun keeps the user's edits to the card, as pushes do
    existing = readme.read_text(encoding="utf-8") if readme.is_file() else None
    card = str(build_card(info, existing=existing))
    save_folder(ds, out, card=card, split=args.split, fetch=image_settings(vlm).url)
    return info


def _example(ds, refined: str) -> dict | None:
    for row in ds.select_columns([c for c in ("vqa", refined) if c in ds.column_names]):
        if row.get(refined) is not None:
            return row
    return None


def _say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "ENVIRONMENT",
    "EXIT_BUSY",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PUSH_FAILED",
    "EXIT_USAGE",
    "PIPELINE_NAMES",
    "build_parser",
    "main",
]
