"""The CLI's "cost and batch" flags: ``--dry-run`` (estimate, send nothing) and ``--batch`` mode.

Kept apart from `main.py` so the argument group and its handling live in one place. `main.run`
calls `dry_run` before any request, and `batch_step` before the map: the map then reads every
reply from the request store (`store_only=True`).

Example:
    $ python scripts/build_dataset.py image-vqa --input examples/sample/records.json --output out/ --dry-run
    $ python scripts/build_dataset.py image-vqa --input in.json --output out/ --batch --wait
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from hf_vqa.cli.command import EXIT_OK

__all__ = ["BatchOutcome", "add_cost_arguments", "batch_mode", "batch_step", "dry_run"]


def add_cost_arguments(p: argparse.ArgumentParser) -> None:
    """Add the "cost and batch" argument group to a pipeline subcommand."""
    g = p.add_argument_group("cost and batch")
    g.add_argument("--dry-run", action="store_true",
                   help="estimate rows, requests, tokens and cost; read images locally, send nothing")  # fmt: skip
    g.add_argument("--probe", type=int, default=0, metavar="N",
                   help="with --dry-run: really send N requests and scale the estimate from their usage")  # fmt: skip
    g.add_argument("--image-tokens", default=None, metavar="FORMULA",
                   help="image-token formula instead of the one chosen from --model (openai-tile, "
                        "openai-tile-4o-mini, openai-patch, openai-patch-nano, claude, gemini, qwen, ...)")  # fmt: skip
    g.add_argument("--expect-completion-tokens", type=int, default=None, metavar="N",
                   help="completion tokens per request for the estimate (default: --max-tokens, else 400)")  # fmt: skip
    g.add_argument(
        "--batch-discount", type=float, default=0.5, help="batch price / online price (default 0.5)"
    )
    g.add_argument("--batch", action="store_true",
                   help="send through /v1/files + /v1/batches (about half price, up to --batch-window); "
                        "rerun the same command to poll and collect")  # fmt: skip
    g.add_argument("--wait", action="store_true", help="with --batch: poll until every batch ended")
    g.add_argument("--wait-timeout", type=float, default=25 * 3600.0, metavar="SECONDS",
                   help="with --wait: stop polling after this long, naming the batch ids to collect later "
                        "(default 90000 = 25 h)")  # fmt: skip
    g.add_argument("--batch-max-download-bytes", type=int, default=None, metavar="N",
                   help="largest batch output/error file to download (default: 64 MiB + 256 KiB per request)")  # fmt: skip
    g.add_argument(
        "--batch-poll", type=float, default=60.0, metavar="SECONDS", help="polling interval (default 60)"
    )
    g.add_argument("--batch-cancel", action="store_true", help="cancel the running batches of this --output")
    g.add_argument(
        "--batch-window", default="24h", help="completion window sent to the provider (default 24h)"
    )
    g.add_argument(
        "--batch-max-requests", type=int, default=50_000, help="requests per batch file (OpenAI: 50,000)"
    )
    g.add_argument(
        "--batch-max-bytes", type=int, default=200 * 1024 * 1024, help="bytes per batch file (OpenAI: 200 MB)"
    )
    g.add_argument("--batch-export", default=None, metavar="FILE",
                   help="write the requests not yet stored as JSONL (for vllm run-batch -i) and stop")  # fmt: skip
    g.add_argument("--batch-import", default=None, metavar="FILE",
                   help="read a results JSONL (vllm run-batch -o) into the store, then build the output")  # fmt: skip


def _request_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from hf_vqa.spec import get_spec

    spec = get_spec(args.pipeline)
    system_prompt, prompt = spec.instructions(args.system_prompt, args.prompt, args.language)
    return {"system_prompt": system_prompt, "prompt": prompt, "image_key": args.image_column,
            "conversation_key": args.conversation_column,
            "response_format": spec.json_format if args.json_mode else None}  # fmt: skip


def _prices(args: argparse.Namespace) -> tuple[float, float] | None:
    return (args.price_in or 0.0, args.price_out or 0.0) if (args.price_in or args.price_out) else None


def dry_run(ds: Any, args: argparse.Namespace, vlm: Any) -> int:
    """Print the estimate (the ``DRY RUN`` line last); exit code 0."""
    from hf_vqa.cost.estimate import estimate
    from hf_vqa.spec import get_spec

    system_prompt, prompt = get_spec(args.pipeline).instructions(
        args.system_prompt, args.prompt, args.language
    )
    est = estimate(ds, vlm, args.pipeline, system_prompt=system_prompt, prompt=prompt,
                   image_key=args.image_column, conversation_key=args.conversation_column,
                   json_mode=args.json_mode, prices=_prices(args), batch_discount=args.batch_discount,
                   image_tokens=args.image_tokens, completion_tokens=args.expect_completion_tokens,
                   probe=args.probe, repair_parse=args.repair_parse)  # fmt: skip
    if getattr(args, "verify", False) or getattr(args, "blind_check", False):
        from hf_vqa.cli.quality import judge_from
        from hf_vqa.quality.summary import estimate_quality

        pairs = (
            5 if args.pipeline == "context-vqa" else 3
        )  # the pipelines' default instructions ask for these
        judge = judge_from(args, vlm)
        q = estimate_quality(ds, judge, votes=args.judge_votes if args.verify else 0,
                             blind=judge if args.blind_check else None, pairs_per_row=pairs)  # fmt: skip
        tokens = round(est.prompt_tokens / max(1, est.to_send) + 60 * pairs) * q["judge_requests"]
        print(f"DRY RUN verify: judge_requests={q['judge_requests']} (rows x --judge-votes) prompt_tokens~{tokens} "
              f"blind_requests~{q['blind_requests']} (~{pairs} pairs per row, one short request each)", flush=True)  # fmt: skip
    print(est.report(), flush=True)
    return EXIT_OK


def batch_mode(args: argparse.Namespace) -> bool:
    """True when this run goes (or went) through the batch API or a batch file."""
    return bool(args.batch or args.batch_cancel or args.batch_export or args.batch_import)


@dataclass
class BatchOutcome:
    """What the map and the card need from a finished batch run."""

    errors: dict[str, str]
    card: dict


def batch_step(
    ds: Any, args: argparse.Namespace, vlm: Any, say, *, wait: bool | None = None
) -> BatchOutcome | int:
    """Advance the batch run; a `BatchOutcome` when every batch was collected, else an exit code.

    `wait` overrides `--wait` (the bundled mock's batches end with this process: always wait).
    """
    from hf_vqa.batch.collect import said
    from hf_vqa.batch.manifest import manifest_path
    from hf_vqa.batch.run import Limits, advance, asked_keys, export_requests, import_results

    kwargs = _request_kwargs(args)
    path = manifest_path(args.output)
    if args.batch_export:
        lines, size = export_requests(ds, vlm, args.batch_export, kwargs)
        say(f"batch: wrote {lines} request line(s), {size:,} bytes, to {args.batch_export} "
            f"(run: vllm run-batch -i {args.batch_export} -o results.jsonl --model <model>; "
            "then rerun with --batch-import results.jsonl)")  # fmt: skip
        return EXIT_OK
    if args.batch_import:
        m = import_results(vlm, args.batch_import, path, asked=asked_keys(ds, vlm, kwargs))
        say(f"batch: imported {args.batch_import}: {m.collected_ok} answered, {len(m.errors)} failed")
        if said(m):
            say(said(m))
        mode = "batch file (vllm run-batch)"
    else:
        limits = Limits(max_requests=args.batch_max_requests, max_bytes=args.batch_max_bytes,
                        window=args.batch_window, poll=args.batch_poll, max_wait=args.wait_timeout,
                        max_download_bytes=args.batch_max_download_bytes)  # fmt: skip
        m = advance(ds, vlm, path, kwargs, limits=limits, wait=args.wait if wait is None else wait, cancel=args.batch_cancel,
                    retry_failed=args.retry_failed, say=say)  # fmt: skip
        if not m.done:
            running = [c for c in m.chunks if not c.collected]
            say(f"batch: {len(running)} batch(es) still running ({', '.join(sorted({c.status for c in running}))}); "
                f"manifest {path}. Rerun this command to collect (add --wait to poll until done)")  # fmt: skip
            return EXIT_OK
        mode = "batch"
    counts = m.counts()
    prices = _prices(args)
    cost = None
    if prices is not None:
        cost = (m.prompt_tokens * prices[0] + m.completion_tokens * prices[1]) / 1e6 * args.batch_discount
    starts = [c.created_at for c in m.chunks if c.created_at]
    ends = [c.ended_at for c in m.chunks if c.ended_at]
    took = round(max(ends) - min(starts), 1) if starts and ends else None
    card = {"mode": mode, "window": m.window, "submitted_to_collected_seconds": took, "batch_ids": [c.batch_id for c in m.chunks if c.batch_id],
            "requests": counts["requests"], "completed": counts["completed"], "failed": counts["failed"],
            "cost_usd": None if cost is None else round(cost, 6), "discount": args.batch_discount}  # fmt: skip
    return BatchOutcome(errors=dict(m.errors), card=card)
