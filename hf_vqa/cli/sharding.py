"""The CLI seam for running on several machines: `--ray [ADDRESS] --shards N` (and `--shards` for
`--shard auto`, which `cli/publish.py` resolves).

- `add_ray_arguments(p)`: `--ray` and `--ray-max-retries` on a pipeline subcommand.
- `run_with_ray(args, vlm, mock=..., command=...)`: build the `ShardJob`, run it with `run_on_ray`,
  print the shards' outcome and one summary line; 0 when every shard is in, 1 otherwise.

Example:
    $ python scripts/build_dataset.py image-vqa --input IN --output out/x --push-to-hub me/x --ray local --shards 4
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from hf_vqa.cli.command import EXIT_INCOMPLETE, EXIT_OK
from hf_vqa.errors import ConfigError

if TYPE_CHECKING:
    from hf_vqa.config import VLM

__all__ = ["add_ray_arguments", "run_with_ray"]


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--ray [ADDRESS]` and `--ray-max-retries` (`--shards` comes with the publishing options)."""
    group = parser.add_argument_group("running on a Ray cluster (pip install 'hf_vqa[ray]')")
    group.add_argument(
        "--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
        help="run --shards N shards as Ray tasks on the cluster at ADDRESS ('local': start Ray here; "
        "no ADDRESS: $RAY_ADDRESS or the cluster `ray start` made on this machine)",
    )  # fmt: skip
    group.add_argument("--ray-max-retries", type=int, default=3,
                       help="times Ray reruns a shard whose worker or node died")  # fmt: skip


def run_with_ray(args: argparse.Namespace, vlm: VLM, *, source: str, mock: bool, command: str) -> int:
    """Run every shard on Ray; print per-shard lines and one summary line. 0 if all shards are in."""
    from hf_vqa.shards.job import ShardJob
    from hf_vqa.shards.on_ray import run_on_ray

    if getattr(args, "shard", None):
        raise ConfigError("--ray runs every shard itself", received=f"--shard {args.shard}",
                          fix="drop --shard and give --shards N")  # fmt: skip
    if not args.shards:
        raise ConfigError("--ray needs the number of shards", received="no --shards", fix="add --shards 4")
    from hf_vqa.cli.cost import batch_mode

    if batch_mode(args):
        raise ConfigError("the batch options do not combine with --ray", received="--batch*",
                          fix="drop --ray (a batch is one upload), or drop the batch options")  # fmt: skip
    for flag in ("export", "retry_failed", "dedupe", "report"):
        if getattr(args, flag, None):
            raise ConfigError(f"--{flag.replace('_', '-')} does not combine with --ray", received=f"--{flag}",
                              fix="run it on the merged output afterwards, without --ray")  # fmt: skip
    source = os.path.abspath(source) if os.path.exists(source) else source  # the workers' cwd is not ours
    output = args.output if "://" in args.output else os.path.abspath(args.output)
    prices = (args.price_in or 0.0, args.price_out or 0.0) if (args.price_in or args.price_out) else None
    job = ShardJob(
        pipeline=args.pipeline, source=source, vlm=vlm, num_shards=args.shards, repo_id=args.push_to_hub,
        output=None if args.push_to_hub else output, split=args.split, config_name=args.config_name,
        private=args.private, commit_message=args.commit_message, system_prompt=args.system_prompt,
        prompt=args.prompt, image_key=args.image_column, conversation_key=args.conversation_column,
        json_mode=args.json_mode, filters=tuple(args.filter), num_proc=args.num_proc,
        batch_size=args.batch_size, prices=prices, license=args.license, command=command, mock=mock,
        language=args.language, repair_parse=args.repair_parse,
    )  # fmt: skip
    run = run_on_ray(job, address=args.ray, max_retries=args.ray_max_retries)
    failed = [s for s in run.shards if s.state not in ("done", "skipped")]
    if args.push_to_hub:
        from hf_vqa.publish.hub import shards_on_hub

        found = shards_on_hub(args.push_to_hub, args.shards, run_key=job.run_key, split=args.split,
                              config_name=args.config_name)  # fmt: skip
        _say(f"hub: {args.push_to_hub} holds {len(found)}/{args.shards} shards of this run"
             + (" (load_dataset sees them as one dataset)" if len(found) == args.shards else ""))  # fmt: skip
    elif not failed:
        _say(f"wrote: {run.where} (the {args.shards} shards merged, in input order)")
    if failed:
        _say(f"{len(failed)} shard(s) not in: " + ", ".join(f"{s.index} ({s.error or s.state})" for s in failed)
             + "; rerun the same command to run only those")  # fmt: skip
    retried = sum(max(0, s.attempts - 1) for s in run.shards)
    shards = f" shards={args.shards - len(failed)}/{args.shards} retried={retried}"
    _say(("MOCK " if mock else "") + "done: " + run.summary.line() + shards)
    return EXIT_INCOMPLETE if failed else EXIT_OK


def _say(text: str) -> None:
    print(text, flush=True)
