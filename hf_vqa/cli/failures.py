"""What the failed rows of a run have in common, said in one line, and whether asking again can help.

`reasons(errors)` groups the `vqa_error` texts (row-specific parts such as file names and attempt
counts left out) and counts them, most common first; `retryable(error)` tells a failure that another
request may fix (a timeout, a refused connection, a 5xx, a 429, a run that gave up) from one it cannot
(an unreadable image, a 4xx, a reply over the size cap), so `--retry-failed` is offered only when it can
help.

Example:
    >>> reasons(["image /a/x.png: not a recognised image", "image /b/y.png: not a recognised image",
    ...          "HTTP 500 after 7 attempt(s): boom"])
    [(2, 'image: not a recognised image'), (1, 'HTTP 500: boom')]
    >>> retryable("image /a/x.png: not a recognised image"), retryable("request failed after 3 attempt(s): timed out")
    (False, True)
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from hf_vqa.cli.command import command_line
from hf_vqa.spec import PIPELINES

__all__ = ["failed_errors", "failure_lines", "parse_hint", "reasons", "reasons_line", "retryable"]

_IMAGE = re.compile(r"^image (?:\d+ )?\S.*?: ")
_PERMANENT_HTTP = re.compile(r"^HTTP (?:4(?!08|09|25|29)\d\d|200) after")
_WIDTH = 320


_ATTEMPTS = re.compile(r"^(HTTP \d+|request failed) after \d+ attempt\(s\): ")
_STOPPED = re.compile(r"^not sent: the run was stopped \((.*)\)$")


def _reason(error: str) -> str:
    text = error.strip()
    text = _ATTEMPTS.sub(lambda m: "" if m.group(1) == "request failed" else f"{m.group(1)}: ", text)
    text = _STOPPED.sub(r"\1", text)
    if text.startswith("image "):
        text = _IMAGE.sub("image: ", text, count=1)
    text = text.split(". Fix:")[0]
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def reasons(errors: Iterable[str | None]) -> list[tuple[int, str]]:
    """(count, reason) for the failed rows' errors, most common first."""
    counts = Counter(_reason(e) for e in errors if e)
    return [(n, text) for text, n in counts.most_common()]


def reasons_line(errors: Iterable[str | None], top: int = 3) -> str:
    """`3× reason; 2× other reason; (+1 other)`: the most common reasons on one line."""
    found = reasons(errors)
    shown = "; ".join(f"{n}× {text}" for n, text in found[:top])
    rest = sum(n for n, _ in found[top:])
    return shown + (f"; and {rest} more with {len(found) - top} other reason(s)" if rest else "")


def retryable(error: str | None) -> bool:
    """True when asking again may succeed (see the module docstring)."""
    if not error:
        return False
    text = error.strip()
    return not (text.startswith("image") or _PERMANENT_HTTP.match(text))


def failed_errors(ds: Any, column: str = "vqa_error") -> list[str]:
    """The error texts of the failed rows that are in the output `ds`."""
    if column not in ds.column_names:
        return []
    return [e for e in ds.select_columns([column])[column] if e]


def failure_lines(errors: list[str], failed: int, argv: list[str], *, batch: bool = False) -> list[str]:
    """Why `failed` rows failed (most common reasons, with counts), and the rerun that can help, if any.

    Example:
        >>> failure_lines(["image /a/x.png: not a recognised image"], 1, ["image-vqa"])[1]
        '1 row(s) failed for reasons another request will not fix (see the vqa_error column); fix the input or the settings, then run again'
    """
    if not failed:
        return []
    lines = [f"failed rows by reason: {reasons_line(errors)}"] if errors else []
    again = sum(map(retryable, errors)) if errors else failed
    retry = argv if "--retry-failed" in argv else [*argv, "--retry-failed"]
    if not again:
        lines.append(f"{failed} row(s) failed for reasons another request will not fix (see the "
                     "vqa_error column); fix the input or the settings, then run again")  # fmt: skip
    elif batch:
        lines.append(f"{again} row(s) failed and may succeed if asked again; to resubmit only those: "
                     f"{command_line(retry)} (as a new batch with --batch, or online without it)")  # fmt: skip
    else:
        lines.append(f"{again} row(s) failed and may succeed if asked again (see the vqa_error column); to "
                     f"ask again for only those: {command_line(retry)}")  # fmt: skip
    return lines


def parse_hint(ds: Any, args: argparse.Namespace, summary: Any) -> str | None:
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
