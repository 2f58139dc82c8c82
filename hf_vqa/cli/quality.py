"""The pipeline commands' verification options, and the step both they and `verify` run.

- `add_quality_arguments(p)`: the "verification" group (`--verify`, `--blind-check`, `--judge-model`,
  `--judge-base-url`, `--judge-api-key-env`, `--judge-votes`, `--judge-free-text`);
- `judge_from(args, vlm)`: the judge's `VLM` (the generating one, with `--judge-*` applied);
- `quality_step(ds, args, judge, ...)`: the verify and blind passes, the agreement with human labels, and
  the pair filters, returning the card's Verification record and the counts.

Example:
    $ python scripts/build_dataset.py image-vqa --input IN --output OUT --verify --blind-check --filter verified
"""

from __future__ import annotations

import argparse
from typing import Any

from hf_vqa.config import VLM
from hf_vqa.errors import HfVqaError

__all__ = ["add_quality_arguments", "judge_from", "quality_step"]


def add_quality_arguments(p: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """The "verification" group: on the pipeline commands (`--verify` too) and on `verify`."""
    g = p.add_argument_group("verification")
    if not subcommand:
        g.add_argument("--verify", action="store_true",
                       help="ask a judge VLM, per pair, whether it is answerable from the image and correct (qa_verdicts)")  # fmt: skip
    g.add_argument("--blind-check", action="store_true",
                   help="ask each question alone, with no image, to a text model: pairs it answers anyway are guessable")  # fmt: skip
    g.add_argument("--judge-model", help="the judge's model (default: the generating model)")
    g.add_argument(
        "--judge-base-url", help="the judge's OpenAI-compatible /v1 URL (default: the generating endpoint)"
    )
    g.add_argument("--judge-api-key-env", default=None,
                   help="NAME of the environment variable holding the judge's key (default: --api-key-env's)")  # fmt: skip
    g.add_argument("--judge-votes", type=int, default=1, metavar="K",
                   help="ask the judge K times (temperature above 0 where allowed) and keep the majority")  # fmt: skip
    g.add_argument("--judge-free-text", action="store_true",
                   help="do not ask for JSON through response_format (it is dropped anyway where rejected)")  # fmt: skip


def judge_from(args: argparse.Namespace, vlm: VLM, *, mock_url: str | None = None) -> VLM:
    """The judge's `VLM`: `vlm` (the generating one) with `--judge-*` applied; the mock when it answers."""
    from hf_vqa.quality.verify import judge_vlm

    changes: dict[str, Any] = {}
    if mock_url:
        changes = {"base_url": mock_url, "model": "mock-vlm", "api_key_env": ""}
    else:
        if args.judge_model:
            changes["model"] = args.judge_model
        if args.judge_base_url:
            changes["base_url"] = args.judge_base_url
        if args.judge_api_key_env is not None:
            changes["api_key_env"] = args.judge_api_key_env
    if args.judge_votes < 1:
        raise HfVqaError("--judge-votes must be 1 or more", received=args.judge_votes, fix="--judge-votes 3")
    return judge_vlm(vlm, votes=args.judge_votes, structured=not args.judge_free_text, **changes)


def quality_step(ds: Any, args: argparse.Namespace, judge: VLM, *, verify: bool, keep_existing: bool = False,
                 labels: Any = None, labels_name: str | None = None, batch: Any = None) -> tuple[Any, dict, Any]:  # fmt: skip
    """Run the verify and blind passes, measure agreement, apply the pair filters.

    Returns `(data, verification record for the card, VerifyCounts)`; the counts are before filtering.
    """

    from hf_vqa.quality.agreement import judge_agreement
    from hf_vqa.quality.blind import STEP_VERSION as BLIND_VERSION
    from hf_vqa.quality.blind import blind_check
    from hf_vqa.quality.pairs import filter_pairs
    from hf_vqa.quality.summary import count_verdicts
    from hf_vqa.quality.verdicts import JUDGE_SYSTEM_PROMPT
    from hf_vqa.quality.verify import STEP_VERSION, verify_pairs
    from hf_vqa.runner.lookahead import source_for
    from hf_vqa.schema import features_after

    common = {"batched": True, "batch_size": args.batch_size or max(64, 8 * judge.max_concurrency),
              "num_proc": args.num_proc if args.num_proc and args.num_proc > 1 else None,
              "load_from_cache_file": False}  # the store answers a rerun; a cached map would keep old failures  # fmt: skip
    record: dict[str, Any] = {"votes": args.judge_votes}
    stored = (
        {"store_only": True, "batch_errors": dict(sorted(batch.errors.items()))} if batch is not None else {}
    )
    if batch is not None:
        record["batch"] = batch.card
    if verify:
        kwargs = {"judge": judge, "image_key": args.image_column, "votes": args.judge_votes,
                  "keep_existing": keep_existing, "version": STEP_VERSION, **stored,
                  "lookahead": source_for(ds, common["num_proc"])}  # fmt: skip
        ds = ds.map(verify_pairs, **common, with_indices=True, with_rank=True, fn_kwargs=kwargs,
                    features=features_after(ds, verify_pairs), desc=f"Judging with {judge.model}")  # fmt: skip
        record |= {"judge_model": judge.model, "judge_host": judge.host, "prompt": JUDGE_SYSTEM_PROMPT}
    if args.blind_check:
        ds = ds.map(blind_check, **common, fn_kwargs={"vlm": judge, "version": BLIND_VERSION, **stored},
                    features=features_after(ds, blind_check), desc=f"Asking {judge.model} blind")  # fmt: skip
        record["blind_model"] = judge.model
    counts = count_verdicts(ds)
    record["counts"] = counts.to_dict()
    if labels is None and "qa_human" in ds.column_names:
        labels, labels_name = ds, "the review's qa_human"
    if labels is not None and "qa_verdicts" in ds.column_names:
        record["agreement"] = judge_agreement(ds, labels).to_dict()
        record["labels"] = labels_name or "labels"
    ds, report = filter_pairs(ds, args.filter)
    if report.filters:
        record["filters"] = report.to_dict()
    return ds, record, counts
