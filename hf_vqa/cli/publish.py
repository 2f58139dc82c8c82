"""The CLI seam for publishing and training exports; `cli/parser.py` and `cli/main.py` wire these in.

- `add_publish_arguments(p)`: `--push-to-hub --private --config-name --export --export-dir --shard
  --commit-message` on a pipeline subcommand (`--license` is the parser's own).
- `check_publish_args(args)`: validate before any work (bad values raise `ConfigError`: exit 2).
- `select_shard(ds, args)`: keep shard I of N (`--shard I/N`), contiguous and deterministic.
- `publish(ds, args, info)`: after the output is written: exports, then the push. A failed push
  prints one line saying the local output is intact and how to retry, and returns `EXIT_PUSH_FAILED`.
- `add_push_only_subcommand(sub)` / `run_push_only(args)`: publish an existing output folder.

Example:
    $ python scripts/build_dataset.py image-vqa --input IN --output out/x --push-to-hub me/x --shard 0/4
    $ python scripts/build_dataset.py push-only --output out/x --push-to-hub me/x --shard 0/4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_vqa.cli.command import EXIT_OK, EXIT_PUSH_FAILED, EXIT_USAGE, command_line
from hf_vqa.errors import ConfigError, HfVqaError, HubError
from hf_vqa.publish.exports import EXPORTS, run_export

if TYPE_CHECKING:  # the card and Hub machinery load only when a push or an export runs
    import datasets

    from hf_vqa.publish.card import RunInfo

Shard = tuple[int, int]


def add_publish_arguments(group: argparse._ArgumentGroup) -> None:
    """Add the publishing and export options to a pipeline subcommand's "publishing" group."""
    _add_push_arguments(group)
    group.add_argument(
        "--export", choices=sorted(EXPORTS), action="append", default=None,
        help="also write a training format (repeatable): "
        + "; ".join(f"{name}: {e.describe}" for name, e in EXPORTS.items()),
    )  # fmt: skip
    group.add_argument("--export-dir", default=None, help="where exports go (default: <OUTPUT>_<format>)")


def add_push_only_subcommand(subparsers, **parser_kwargs: Any) -> argparse.ArgumentParser:
    """`push-only --output OUT --push-to-hub REPO_ID`: publish a finished output folder again."""
    what = "publish an existing --output folder to the Hub without regenerating anything"
    p = subparsers.add_parser(
        "push-only", help=what, description=f"push-only: {what} (data and card in one commit).",
        **parser_kwargs,
    )  # fmt: skip
    p.add_argument("--output", required=True, help="the output folder of a finished run")
    p.add_argument("--split", default="train", help="the split the folder holds")
    p.add_argument("--license", default=None, help="replace the card's license (default: keep the folder's)")
    _add_push_arguments(
        p, required=True, shard_help="push the folder as shard I of N (as the run that wrote it)"
    )
    return p


def check_publish_args(args: argparse.Namespace) -> Shard | None:
    """Validate `--shard`, `--push-to-hub` and the output kind; return the shard `(I, N)` or None.

    Bad values raise `ConfigError` (exit 2). `args` is left as it is.
    """
    shard = _parse_shard(getattr(args, "shard", None), getattr(args, "shards", None))
    if getattr(args, "shards", None) and not shard and getattr(args, "ray", None) is None:
        raise ConfigError("--shards goes with --shard auto or --ray", received=f"--shards {args.shards}",
                          fix="add --ray local (or --shard auto in a job array), or drop --shards")  # fmt: skip
    repo = getattr(args, "push_to_hub", None)
    if repo:
        from huggingface_hub.utils import validate_repo_id  # only then: it loads httpx with huggingface_hub

        try:
            validate_repo_id(repo)
        except ValueError as err:
            raise ConfigError(
                "--push-to-hub needs a repo id", received=repo, fix="use me/my-dataset"
            ) from err
        if Path(args.output).suffix.lower() in (".json", ".jsonl"):
            raise ConfigError(
                "--push-to-hub publishes the output folder, not a JSON file",
                received=args.output,
                fix="use a folder --output (parquet + card); add --export sharegpt for the JSON records",
            )
    return shard


def select_shard(
    ds: datasets.Dataset, args: argparse.Namespace, shard: Shard | None = None
) -> datasets.Dataset:
    """Keep shard I of N when `--shard I/N` was given (`ds.shard(N, I, contiguous=True)`).

    With `--retry-failed` the input is the shard's own output already, so it is kept whole.
    """
    shard = shard or _parse_shard(getattr(args, "shard", None), getattr(args, "shards", None))
    if shard is None or getattr(args, "retry_failed", False):
        return ds
    from hf_vqa.shards.plan import take_shard

    return take_shard(ds, *shard)


def publish(
    ds: datasets.Dataset, args: argparse.Namespace, info: RunInfo | None, shard: Shard | None = None
) -> int:
    """Write the requested exports, then push the output folder; 0, or `EXIT_PUSH_FAILED`."""
    out = Path(args.output)
    for fmt in dict.fromkeys(getattr(args, "export", None) or []):
        target = Path(args.export_dir) / fmt if getattr(args, "export_dir", None) else _default_dir(out, fmt)
        _say(run_export(fmt, ds, target, image_key=_image_key(args)))
    if not getattr(args, "push_to_hub", None):
        return EXIT_OK
    return _push(
        args, info, shard or _parse_shard(getattr(args, "shard", None), getattr(args, "shards", None))
    )


def run_push_only(args: argparse.Namespace) -> int:
    """The `push-only` subcommand: 0 pushed, 2 bad arguments or folder, 3 the push failed."""
    from hf_vqa.publish.card import RunInfo

    try:
        shard = check_publish_args(args)
        folder = Path(args.output)
        readme = folder / "README.md"
        info = RunInfo.from_card(readme.read_text(encoding="utf-8")) if readme.is_file() else None
        if info is not None and args.license:
            info.license = args.license
        return _push(args, info, shard)
    except HfVqaError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE


def _push(args: argparse.Namespace, info: RunInfo | None, shard: Shard | None) -> int:
    from hf_vqa.publish.hub import push_only

    try:
        url = push_only(
            args.output, args.push_to_hub, info=info, split=args.split, config_name=args.config_name,
            private=args.private, shard=shard, commit_message=args.commit_message,
        )  # fmt: skip
    except HubError as err:
        retry = ["push-only", "--output", str(args.output)]
        retry += ["--push-to-hub", args.push_to_hub] + (
            ["--shard", f"{shard[0]}/{shard[1]}"] if shard else []
        )
        retry += ["--config-name", args.config_name] if args.config_name != "default" else []
        retry += ["--split", args.split] if args.split != "train" else []
        sys.stderr.write(
            f"error: {err}. The local output at {args.output} is intact; retry without regenerating: "
            f"{command_line(retry)}\n"
        )
        return EXIT_PUSH_FAILED
    _say(f"pushed: {url}" + (f" (shard {shard[0]}/{shard[1]})" if shard else ""))
    return EXIT_OK


def _add_push_arguments(
    group,
    *,
    required: bool = False,
    shard_help: str = "process and push only shard I of N (0 <= I < N); 'auto': from a Slurm array or Kubernetes Indexed Job",
) -> None:
    group.add_argument(
        "--push-to-hub", metavar="REPO_ID", required=required, help="publish to this dataset repo"
    )
    group.add_argument("--private", action="store_true", help="create the repo as private")
    group.add_argument("--config-name", default="default", help="the dataset config (subset) to push to")
    group.add_argument("--shard", metavar="I/N", default=None, help=shard_help)
    group.add_argument("--shards", metavar="N", type=int, default=None,
                       help="how many shards: for --shard auto in a Kubernetes Indexed Job, and for --ray")  # fmt: skip
    group.add_argument(
        "--commit-message", help='the Hub commit\'s message (default: "Upload SPLIT (hf_vqa)")'
    )


def _parse_shard(text: str | None, shards: int | None = None) -> tuple[int, int] | None:
    from hf_vqa.shards.plan import resolve_shard  # I/N, or `auto`: a Slurm array or Kubernetes Indexed Job

    return resolve_shard(text, shards)


def _default_dir(out: Path, fmt: str) -> Path:
    return out.parent / f"{out.stem if out.suffix.lower() in ('.json', '.jsonl') else out.name}_{fmt}"


def _image_key(args: argparse.Namespace) -> str:
    return getattr(args, "image_column", None) or "image"


def _say(text: str) -> None:
    print(text, flush=True)


__all__ = [
    "EXIT_PUSH_FAILED",
    "add_publish_arguments",
    "add_push_only_subcommand",
    "check_publish_args",
    "publish",
    "run_push_only",
    "select_shard",
]
