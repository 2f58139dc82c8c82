"""The command line's parser: subcommands, option groups (as docs/cli.md lists them), help and defaults.

Defaults come from `VLM`'s fields, so the CLI and the library cannot disagree. Only light modules are
imported here: building the parser never loads `datasets` or `openai`.

Example:
    >>> args = build_parser().parse_args(["image-vqa", "--input", "in.json", "--output", "out"])
    >>> args.pipeline, args.max_concurrency == VLM.max_concurrency
    ('image-vqa', True)
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from dataclasses import MISSING, fields

from hf_vqa.cli import cost as cost_cli
from hf_vqa.cli.command import (
    CONSOLE_SCRIPT,
    EXIT_BUSY,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PUSH_FAILED,
    EXIT_USAGE,
    SCRIPT,
    invocation,
)
from hf_vqa.cli.publish import add_publish_arguments, add_push_only_subcommand
from hf_vqa.cli.quality import add_quality_arguments
from hf_vqa.cli.report import add_report_subcommand
from hf_vqa.cli.review import add_review_subcommand
from hf_vqa.cli.sharding import add_ray_arguments
from hf_vqa.cli.store import add_store_subcommand
from hf_vqa.cli.verify import add_verify_subcommand
from hf_vqa.config import DEFAULT_BASE_URL, VLM  # light: no datasets, no openai
from hf_vqa.spec import FILTER_NAMES, PIPELINES

__all__ = ["ENVIRONMENT", "PIPELINE_NAMES", "build_parser"]

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
  HF_VQA_HEADERS, HF_VQA_QUERY       JSON objects of extra headers / query parameters (as --header / --query)

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
                                metavar="{" + ",".join([*PIPELINE_NAMES, "verify", "push-only", "report", "review", "store"]) + "}")  # fmt: skip
    for spec in PIPELINES.values():
        example = (
            f"example:\n  {prog} {spec.name} --input examples/sample/records.json --output out/x --mock auto"
        )
        p = sub.add_parser(spec.name, help=f"run the {spec.name} pipeline", formatter_class=_Help,
                           description=textwrap.fill(f"{spec.name}: {spec.description}", 100), epilog=f"{example}\n\n{ENVIRONMENT}")  # fmt: skip
        _add_pipeline_arguments(p)
    add_verify_subcommand(sub, formatter_class=_Help, epilog=ENVIRONMENT)
    add_push_only_subcommand(sub, formatter_class=_Help, epilog=ENVIRONMENT)
    add_report_subcommand(sub, formatter_class=_Help)
    add_store_subcommand(sub, formatter_class=_Help)
    add_review_subcommand(sub, formatter_class=_Help)
    return parser


def _add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    """A pipeline subcommand's options, in the groups docs/cli.md lists. Defaults are `VLM`'s own."""
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
    g.add_argument("--give-up-after", type=float, default=_VLM["give_up_after"], metavar="SECONDS",
                   help="when the endpoint stops answering (every request in flight refused, timed out or "
                   "5xx), all rows pause together; give up after this long without an answer, keeping what "
                   "is done (an endpoint that never answered: at most 20 s)")  # fmt: skip
    g.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                   help="add a header to every request (repeatable), e.g. for gateways: 'x-litellm-model=gpt-4o', "
                   "'HTTP-Referer=https://me.example'; values are kept out of cards, logs and messages")  # fmt: skip
    g.add_argument("--query", action="append", default=[], metavar="NAME=VALUE",
                   help="add a query parameter to every request URL (repeatable), e.g. 'api-version=2024-10-21' "
                   "or LiteLLM's 'model=gpt-4o'")  # fmt: skip

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
    g.add_argument("--structured", action="store_true",
                   help="send the pipeline's JSON schema as response_format json_schema (the instruction stays); "
                   "an endpoint that rejects it gets free text for the run, as the card records")  # fmt: skip
    g.add_argument("--repair-parse", action="store_true",
                   help="send a reply that gave no pairs (or a cut last pair) back as text only, with the schema, "
                   "asking only to reformat it; repaired rows are marked and counted")  # fmt: skip
    g.add_argument("--language", default="en", metavar="CODE",
                   help="write prompts in this language and parse and ground replies in it: en, zh, ja, ko, de, "
                   "fr, es, pt, ru (default: en)")  # fmt: skip

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

    add_quality_arguments(p)  # its own group: "verification" (--verify, --blind-check, --judge-*)
    cost_cli.add_cost_arguments(p)  # its own group: "cost and batch"
    add_ray_arguments(p)  # its own group: "running on a Ray cluster"

    g = p.add_argument_group("publishing")
    g.add_argument("--license", default="other", help="the card's license (e.g. cc-by-4.0)")
    g.add_argument("--report", action="store_true",
                   help="also write <OUTPUT>_report.html: a self-contained page to look at the data")  # fmt: skip
    add_publish_arguments(g)
