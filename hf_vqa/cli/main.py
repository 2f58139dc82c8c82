"""The command line: `python scripts/build_dataset.py image-vqa|context-vqa --input IN --output OUT`.

A thin layer over `inputs`, `pipeline` and `publish`; the parser is `cli/parser.py`, the endings
(Ctrl-C, disk full) `cli/interrupts.py`. Bad arguments, unreadable inputs and a
missing key give a one-line error and exit code 2; Ctrl-C exits 130 and says how to resume.

A job that already finished (same command, input and output untouched, 0 failed rows) is answered
from `jobs.py` before `datasets` is even imported: "up to date", nothing sent. `--force` runs it anyway.
So this module imports only light modules at the top; the heavy ones load inside the functions.

Example:
    $ python scripts/build_dataset.py image-vqa --input examples/sample/records.json --output out/ --mock
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hf_vqa.cli import cost as cost_cli
from hf_vqa.cli import jobs
from hf_vqa.cli.command import (
    EXIT_BUSY,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PUSH_FAILED,
    EXIT_USAGE,
    command_line,
)
from hf_vqa.cli.interrupts import caused_by_ctrl_c, disk_full, interrupted, quiet_workers_on_ctrl_c
from hf_vqa.cli.parser import ENVIRONMENT, PIPELINE_NAMES, build_parser
from hf_vqa.cli.publish import run_push_only
from hf_vqa.cli.report import dedupe_step, diversity_lines, run_report
from hf_vqa.cli.store import run_store
from hf_vqa.config import DEFAULT_BASE_URL, VLM  # light: no datasets, no openai
from hf_vqa.errors import HfVqaError
from hf_vqa.quality.pairs import PAIR_FILTERS
from hf_vqa.spec import PIPELINES

if TYPE_CHECKING:  # the heavy modules (datasets, openai, PIL) load only when a job really runs
    from hf_vqa.publish.card import RunInfo
    from hf_vqa.runner.summary import Summary


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
    if args.pipeline == "verify":
        from hf_vqa.cli.verify import run_verify

        return run_verify(args, argv)
    if args.pipeline == "review":
        from hf_vqa.cli.review import run_review

        return run_review(args)
    mock_proc = None
    previous_handler = quiet_workers_on_ctrl_c()
    try:
        _check_quality_args(args)
        _gateway(args)  # --header / --query: into the environment, like the key (never into a VLM)
        mock = _uses_mock(args)
        job = jobs.job_key(args, mock=mock)  # before any work: the input as this run will read it
        done = None if args.dry_run else jobs.finished(job, args.output, args.cache_dir)
        if done is not None:
            _say(f"up to date: {args.output} (nothing sent; use --force to rebuild)")
            _say(("MOCK " if mock else "") + "done: " + done)
            return EXIT_OK
        from hf_vqa.cli.lock import Busy, hold
        from hf_vqa.cli.output import check_filters, check_hub_token, check_output
        from hf_vqa.cli.publish import check_publish_args, publish, select_shard
        from hf_vqa.images.columns import undecoded
        from hf_vqa.inputs.load import load_input
        from hf_vqa.pipeline import run_pipeline
        from hf_vqa.runner.datasets_internals import fingerprint

        shard = check_publish_args(args)
        check_filters(args)
        check_output(args)  # before the lock, the mock and any request: nothing is paid for a doomed run
        if not args.dry_run:
            check_hub_token(args)
        try:  # one run per output (and shard: job-array tasks may share an --output name)
            lock = hold(args.output, args.cache_dir, scope=str(shard or ""))  # noqa: F841
        except Busy as err:
            sys.stderr.write(f"error: {err}\n")
            return EXIT_BUSY
        source = _input_of(args)  # before the mock starts: a missing --input says so first
        _check_output(args.output)
        from hf_vqa.languages import check_language

        check_language(args.language)  # a code without prompts: said before anything starts
        vlm = _vlm(args, args.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        if not mock and not args.dry_run:
            vlm.api_key()  # a missing key is a usage error, before any work
        ray = args.ray is not None and not args.dry_run  # every shard as a Ray task; the tasks read the input
        ds = (
            None if ray else select_shard(load_input(source, split=args.split), args, shard)
        )  # before the mock
        if mock:
            from hf_vqa.mock.server import SERVED_MODELS, start_subprocess

            mock_proc, base_url = start_subprocess(models=",".join(SERVED_MODELS))
            _say(
                f"MOCK: using hf_vqa's bundled mock VLM at {base_url} — answers are synthetic, not a real model"
            )
            if ignored := args.base_url or os.environ.get("OPENAI_BASE_URL"):
                from hf_vqa.images.fetch import display_url

                where = "--base-url" if args.base_url else "$OPENAI_BASE_URL"
                _say(f"MOCK: {where} {display_url(ignored)} is ignored: the mock answers instead "
                     "(drop --mock to send to it)")  # fmt: skip
            vlm = _vlm(args, base_url, model=mock_model(args), api_key_env="")
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
            language=args.language,
            repair_parse=args.repair_parse,
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
        verification, judged_all = None, True
        if args.verify or args.blind_check:  # after dedupe: the judge sees only the pairs that stay
            from hf_vqa.cli.quality import judge_from, quality_step

            judge = judge_from(args, vlm)
            ds, verification, counts = quality_step(ds, args, judge, verify=args.verify)
            summary.quality, judged_all = counts.line(), not counts.rows_failed
        row_filters = [f for f in args.filter if f not in PAIR_FILTERS]  # pair filters: in quality_step
        if row_filters:
            from hf_vqa.cli.output import apply_filters

            ds, summary = apply_filters(ds, args, summary, row_filters, prices=prices, say=_say)
            if not len(ds):  # `datasets` cannot load an empty split: nothing is written (exit 1)
                return EXIT_INCOMPLETE
        stats, diversity = diversity_lines(ds, args.pipeline, dedupe)
        info = None
        if jobs.holds(args.output, fingerprint(ds), args.cache_dir):
            _say(f"output unchanged since the last run: {args.output}")
        else:
            info = _write(ds, args, vlm, summary, mock=mock_proc is not None, argv=argv,
                          batch=batch.card if batch is not None else None, diversity=diversity,
                          verification=verification)  # fmt: skip
            jobs.wrote(args.output, fingerprint(ds), args.cache_dir)
        code = publish(ds, args, info, shard)
        if not code and summary.rows and not summary.failed and judged_all:  # failed rows: never done
            jobs.remember(job, args.output, summary.line(), args.cache_dir)
        from hf_vqa.cli.failures import failed_errors, failure_lines, parse_hint

        hint = parse_hint(ds, args, summary)
        if hint:
            _say(hint)
        errors = failed_errors(ds) if summary.failed else []
        for line in failure_lines(errors, summary.failed, argv, batch=batch is not None):
            _say(line)
        for line in stats:
            _say(line)
        if args.report:
            from hf_vqa.cli.report import write_run_report

            _say(write_run_report(ds, args.output, image_key=args.image_column, mock=mock_proc is not None))
        _say(("MOCK " if mock_proc else "") + "done: " + summary.line())  # stays the last line
        if summary.rows and summary.failed == summary.rows:  # nothing answered: not a success
            from hf_vqa.cli.failures import reasons_line

            sys.stderr.write(f"error: every row failed ({summary.failed}): {reasons_line(errors, top=2)} "
                             "(see the vqa_error column)\n")  # fmt: skip
            return code or EXIT_INCOMPLETE
        return code or (EXIT_OK if summary.rows else EXIT_INCOMPLETE)
    except HfVqaError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return interrupted()
    except Exception as err:
        if caused_by_ctrl_c(err):  # datasets' num_proc pool turns Ctrl-C into a TimeoutError
            return interrupted()
        if (full := disk_full(err)) is not None:  # e.g. the datasets cache's disk: one line, no traceback
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
    vlm = VLM(
        model=model or args.model,
        base_url=base_url,
        api_key_env=args.api_key_env if api_key_env is None else api_key_env,
        max_concurrency=args.max_concurrency,
        timeout=args.timeout,
        max_reply_bytes=args.max_reply_bytes,
        max_retries=args.max_retries,
        give_up_after=args.give_up_after,
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
        structured=getattr(args, "structured", False),
    )
    return PIPELINES[args.pipeline].vlm_for(vlm)


def _check_quality_args(args: argparse.Namespace) -> None:
    """`--filter verified` needs `--verify`, `--filter not-guessable` `--blind-check`: said before any work."""
    for name, flag in (("verified", "verify"), ("not-guessable", "blind_check")):
        if name in args.filter and not getattr(args, flag):
            raise HfVqaError(f"--filter {name} needs --{flag.replace('_', '-')}", received=f"--filter {name}",
                             fix=f"add --{flag.replace('_', '-')} (or run `verify` on the output later)")  # fmt: skip
    if (args.verify or args.blind_check) and getattr(args, "ray", None) is not None:
        raise HfVqaError("--verify and --blind-check do not run inside --ray shards yet", received="--ray",
                         fix="run `verify --input OUTPUT --output VERIFIED` on the finished output")  # fmt: skip
    if args.judge_votes < 1:
        raise HfVqaError("--judge-votes must be 1 or more", received=args.judge_votes, fix="--judge-votes 3")


def _gateway(args: argparse.Namespace) -> None:
    """Send `--header`/`--query` with every request (merged over $HF_VQA_HEADERS/$HF_VQA_QUERY)."""
    if not (args.header or args.query):
        return
    from hf_vqa.engine.gateway import extra_headers, extra_query, parse_pairs, set_gateway

    set_gateway(headers={**extra_headers(), **parse_pairs(args.header, "--header")},
                query={**extra_query(), **parse_pairs(args.query, "--query")})  # fmt: skip


def mock_model(args: argparse.Namespace) -> str:
    """The model a `--mock` run asks for: `--model` when one was chosen, else the mock's own `mock-vlm`.

    The mock answers its own name and a few well-known ids; any other name (a typo) gets 404, as from a
    real server.
    """
    default = os.environ.get("HF_VQA_MODEL") or VLM.model
    return args.model if args.model and args.model != default else "mock-vlm"


def _uses_mock(args: argparse.Namespace) -> bool:
    """True when the bundled mock VLM answers: `--mock`, or `--mock auto` with no endpoint set."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    return args.mock == "always" or (args.mock == "auto" and not base_url)


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
    verification: dict | None = None,
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
        example=_example(ds, spec.refined),
        diversity=diversity,
        license=args.license,
        split=args.split,
        batch=batch,
        verification=verification,
        language=[args.language],
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
