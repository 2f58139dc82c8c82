"""The command line: `python scripts/build_dataset.py image-vqa|context-vqa --input IN --output OUT`.

A thin layer over `inputs`, `pipeline` and `publish`; the parser is `cli/parser.py`, the run's settings
`cli/run_settings.py`, writing the output `cli/write.py`, the endings (Ctrl-C, disk full) `cli/interrupts.py`. Bad arguments, unreadable inputs and a
missing key give a one-line error and exit code 2; Ctrl-C exits 130 and says how to resume.

A job that already finished (same command, input and output untouched, 0 failed rows) is answered
from `jobs.py` before `datasets` is even imported: "up to date", nothing sent. `--force` runs it anyway.
So this module imports only light modules at the top; the heavy ones load inside the functions.

Example:
    $ python scripts/build_dataset.py image-vqa --input examples/sample/records.json --output out/ --mock
"""

from __future__ import annotations

import functools
import os
import signal
import sys

from hf_vqa.cli import cost as cost_cli
from hf_vqa.cli import jobs
from hf_vqa.cli.collector import calm_collector
from hf_vqa.cli.command import (
    EXIT_BUSY,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PUSH_FAILED,
    EXIT_USAGE,
    command_line,
)
from hf_vqa.cli.interrupts import caused_by_ctrl_c, disk_full, exit_now, interrupted, quiet_workers_on_ctrl_c
from hf_vqa.cli.parser import ENVIRONMENT, PIPELINE_NAMES, build_parser
from hf_vqa.cli.publish import run_push_only
from hf_vqa.cli.report import dedupe_step, diversity_lines, run_report
from hf_vqa.cli.run_settings import (
    check_output_folder,
    check_quality_args,
    gateway_from_args,
    input_of,
    mock_model,
    uses_mock,
    vlm_from_args,
)
from hf_vqa.cli.store import run_store
from hf_vqa.cli.threads import one_blas_thread
from hf_vqa.cli.write import start_spool, write_output
from hf_vqa.config import DEFAULT_BASE_URL  # light: no datasets, no openai
from hf_vqa.errors import HfVqaError
from hf_vqa.quality.pairs import PAIR_FILTERS
from hf_vqa.spec import PIPELINES


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    one_blas_thread()  # before numpy loads (with `datasets`): no spinning BLAS thread per core
    calm_collector()  # fewer collector passes while the modules load, too
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
    mock_proc = spool = None
    previous_handler = quiet_workers_on_ctrl_c()
    try:
        check_quality_args(args)
        gateway_from_args(args)  # --header / --query: into the environment, like the key (never into a VLM)
        mock = uses_mock(args)
        job = jobs.job_key(args, mock=mock)  # before any work: the input as this run will read it
        done = None if args.dry_run else jobs.finished(job, args.output, args.cache_dir)
        if done is not None:
            _say(f"up to date: {args.output} (nothing sent; use --force to rebuild)")
            _say(("MOCK " if mock else "") + "done: " + done)
            return EXIT_OK
        from hf_vqa.cli.lock import Busy, hold
        from hf_vqa.cli.output import check_filters, check_hub_token, check_output
        from hf_vqa.cli.publish import check_publish_args, publish, select_shard

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
        source = input_of(args)  # before the mock starts: a missing --input says so first
        check_output_folder(args.output)
        from hf_vqa.languages import check_language

        check_language(args.language)  # a code without prompts: said before anything starts
        vlm = vlm_from_args(args, args.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        if not mock and not args.dry_run:
            vlm.api_key()  # a missing key is a usage error, before any work
        ray = args.ray is not None and not args.dry_run  # every shard as a Ray task; the tasks read the input
        from hf_vqa.runner import warm

        warm.maybe_start(
            args, source=source, vlm=vlm, shard=shard, batch=cost_cli.batch_mode(args), mock=mock
        )
        from hf_vqa.images.columns import undecoded  # `datasets` loads here (after a warm start began)
        from hf_vqa.inputs.load import load_input
        from hf_vqa.pipeline import run_pipeline
        from hf_vqa.runner.datasets_internals import fingerprint
        from hf_vqa.runner.memory import release_free_memory

        calm_collector()  # the imports' objects out of the collector's sight; fewer young passes

        ds = (
            None if ray else select_shard(load_input(source, split=args.split), args, shard)
        )  # before the mock
        if ds is not None:
            warm.reread(ds)  # the records are in its Arrow file now: the warm start lets them go
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
            vlm = vlm_from_args(args, base_url, model=mock_model(args), api_key_env="")
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
        spool = start_spool(ds, args, vlm, shard=shard, batch=batch)  # the parquet written as replies arrive
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
        release_free_memory()  # what the requests held, before the output is written (peak RSS)
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
        diversity = functools.cache(functools.partial(diversity_lines, ds, args.pipeline, dedupe))
        info = None
        if jobs.holds(args.output, fingerprint(ds), args.cache_dir):
            _say(f"output unchanged since the last run: {args.output}")
        else:
            info = write_output(ds, args, vlm, summary, mock=mock_proc is not None, argv=argv,
                          batch=batch.card if batch is not None else None, diversity=lambda: diversity()[1],
                          verification=verification, spool=spool)  # fmt: skip
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
        for line in diversity()[0]:  # counted while the parquet was written (or now, when it was not)
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
        if spool is not None:
            spool.close()
        if "hf_vqa.runner.warm" in sys.modules:  # a warm start no map took (the run ended before it)
            sys.modules["hf_vqa.runner.warm"].stop()
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if mock_proc is not None:
            mock_proc.terminate()
            mock_proc.wait(timeout=10)


def _say(text: str) -> None:
    print(text, flush=True)


def run() -> None:
    """The `hf-vqa` command (and `scripts/build_dataset.py`): `main()`, then `exit_now` with its code."""
    exit_now(main())


if __name__ == "__main__":  # pragma: no cover
    run()


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
    "exit_now",
    "main",
    "run",
]
