"""The run's settings from the command line: the `VLM`, the mock or not, the input, early refusals.

Light: nothing here imports `datasets` or `openai` (the CLI answers "up to date" before they load).

Example:
    >>> import argparse
    >>> uses_mock(argparse.Namespace(mock="always", base_url=None))
    True
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hf_vqa.cli import cost as cost_cli
from hf_vqa.config import VLM
from hf_vqa.errors import HfVqaError
from hf_vqa.spec import PIPELINES


def vlm_from_args(
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


def check_quality_args(args: argparse.Namespace) -> None:
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


def gateway_from_args(args: argparse.Namespace) -> None:
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


def uses_mock(args: argparse.Namespace) -> bool:
    """True when the bundled mock VLM answers: `--mock`, or `--mock auto` with no endpoint set."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    return args.mock == "always" or (args.mock == "auto" and not base_url)


def input_of(args: argparse.Namespace) -> str:
    """What the run reads: `--input`, or the output itself for `--retry-failed`."""
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


def check_output_folder(output: str) -> None:
    """Create the output's parent folder, or say it cannot be made."""
    parent = Path(output).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HfVqaError("cannot create the output's folder", received=f"{parent}: {err.strerror}",
                         fix="pick a writable --output") from None  # fmt: skip


__all__ = [
    "check_output_folder",
    "check_quality_args",
    "gateway_from_args",
    "input_of",
    "mock_model",
    "uses_mock",
    "vlm_from_args",
]
