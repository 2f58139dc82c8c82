"""Settings that would fail after paying are refused before the first request (exit 2, one line).

- `check_output(args)`: `--output` is `out.json`/`out.jsonl` (seed records) or a folder that is new,
  empty, or an earlier output of the same pipeline. An existing regular file, a name like `x.csv`, a
  non-empty folder hf_vqa did not make, or a folder made by the other pipeline are refused: nothing of
  the user's is overwritten or mixed.
- `check_hub_token(args)`: `--push-to-hub` needs a token the Hub accepts (`whoami`, with a deadline);
  a missing or refused token is said before any image is sent.

Example:
    >>> import argparse
    >>> check_output(argparse.Namespace(output="x.csv", pipeline="image-vqa"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hf_vqa.errors.ConfigError: --output x.csv names a .csv file, but a folder would be written ...
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hf_vqa.errors import ConfigError

__all__ = [
    "RECORD_SUFFIXES",
    "apply_filters",
    "check_filters",
    "check_hub_token",
    "check_output",
    "kept_line",
    "made_by",
]

RECORD_SUFFIXES = (".json", ".jsonl")
# names that say "a file" to a reader, where hf_vqa would make a folder of that name
_FILE_SUFFIXES = {".csv", ".tsv", ".parquet", ".arrow", ".txt", ".xlsx", ".xls", ".zip", ".tar", ".gz", ".tgz",
                  ".html", ".htm", ".md", ".yaml", ".yml", ".png", ".jpg", ".jpeg", ".webp", ".pkl", ".npy",
                  ".ndjson", ".sqlite", ".db"}  # fmt: skip
_PIPELINE = re.compile(r"^\s+pipeline:\s*['\"]?([\w.-]+)", re.MULTILINE)
WHOAMI_SECONDS = 20.0


def made_by(folder: Path) -> str | None:
    """The pipeline that wrote `folder` (from its card's `hf_vqa` YAML), '' for an hf_vqa card without
    one, or None when the folder holds no hf_vqa card.

    Example:
        >>> made_by(Path("/nonexistent")) is None
        True
    """
    readme = folder / "README.md"
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return None
    if "<!-- hf_vqa:start -->" not in text and "\nhf_vqa:" not in text:
        return None
    header = text.split("\n---", 1)[0] if text.startswith("---") else text  # the YAML front matter
    found = _PIPELINE.search(header)
    return found.group(1) if found else ""


def check_output(args: argparse.Namespace) -> None:
    """Raise `ConfigError` when writing `args.output` would fail or clobber something not hf_vqa's."""
    out = Path(args.output)
    pipeline = getattr(args, "pipeline", None)
    if out.suffix.lower() in RECORD_SUFFIXES:
        if out.is_dir():
            raise ConfigError(f"--output {out} is an existing folder, but a .json/.jsonl name writes a file",
                              fix="pick another --output, or a folder name without .json")  # fmt: skip
        return
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--output {out} is an existing file, not a folder",
                          fix="pass a folder name (parquet + card), or out.json / out.jsonl for records")  # fmt: skip
    if out.suffix.lower() in _FILE_SUFFIXES:
        raise ConfigError(f"--output {out} names a {out.suffix} file, but a folder would be written "
                          "(parquet + README.md card)",
                          fix=f"use a folder name such as {out.with_suffix('')}, or out.json / out.jsonl for records")  # fmt: skip
    if not out.is_dir():
        return
    entries = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    if not entries:
        return
    maker = made_by(out)
    if (
        maker is None
        and entries == ["data"]
        and all(p.suffix == ".parquet" for p in (out / "data").iterdir())
    ):
        maker = ""  # another shard of this job moved its parquet in and has not written the card yet
    if maker is None:
        shown = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(f"--output {out} is a folder hf_vqa did not make (it holds {shown}); writing "
                          "would mix data/ and README.md into it",
                          fix="pass a new or empty folder")  # fmt: skip
    if maker and pipeline and maker != pipeline:
        raise ConfigError(f"--output {out} holds {maker} data; this {pipeline} run would replace it",
                          fix=f"pass another --output for {pipeline} (or remove {out} first)")  # fmt: skip


def check_filters(args: argparse.Namespace) -> None:
    """Raise `ConfigError` for a `--filter` that does not apply to the pipeline (e.g. `grounded` on
    image-vqa, whose rows have no article to check against), before anything is sent."""
    from hf_vqa.spec import PIPELINES

    spec = PIPELINES[args.pipeline]
    if not_applying := [name for name in getattr(args, "filter", None) or [] if name not in spec.filters]:
        raise ConfigError(f"--filter {' '.join(not_applying)} does not apply to {spec.name} (its checks need an "
                          "article, which only context-vqa writes)",
                          fix=f"for {spec.name}, use --filter {' or '.join(spec.filters)}, or no --filter")  # fmt: skip


def kept_line(before: int, after: int, filters: list[str], passing: dict[str, int]) -> str:
    """One line on what `--filter` kept: `filter: kept 2 of 6 rows (grounded: 2, parsed: 6)`.

    Example:
        >>> kept_line(6, 0, ["grounded"], {"grounded": 0})
        'filter: kept 0 of 6 rows (passing grounded: 0)'
    """
    each = ", ".join(f"{name}: {passing[name]}" for name in filters)
    return f"filter: kept {after} of {before} rows (passing {each})"


def apply_filters(
    ds: Any,
    args: argparse.Namespace,
    summary: Any,
    filters: list[str],
    *,
    prices: Any,
    say: Callable[[str], None],
):
    """Keep the rows passing every row filter in `filters`; say what each kept. Returns `(ds, summary)`,
    the summary counted again over the rows kept (the card describes the data in the folder). With 0 rows
    kept it also says, on stderr, that nothing is written (the caller exits 1)."""
    import sys

    from hf_vqa.pipeline import filter_rows, summarize
    from hf_vqa.spec import PIPELINES

    before = len(ds)
    passing = {name: len(filter_rows(ds, args.pipeline, [name])) for name in dict.fromkeys(filters)}
    ds = filter_rows(ds, args.pipeline, filters)
    say(kept_line(before, len(ds), list(passing), passing))
    if not len(ds):
        sys.stderr.write(f"error: --filter {' '.join(passing)} kept 0 of {before} rows; nothing was written "
                         f"to {args.output} (the answers stay in the request store, so a rerun without that "
                         "--filter sends nothing)\n")  # fmt: skip
    elif len(ds) < before:
        kept = summarize(ds, PIPELINES[args.pipeline].refined, seconds=summary.seconds, prices=prices)
        kept.adapted, kept.quality = summary.adapted, summary.quality  # what the run did, not per row
        summary = kept
    return ds, summary


def check_hub_token(args: argparse.Namespace) -> None:
    """Raise `ConfigError` when `--push-to-hub` has no token, or the Hub refuses it (401/403).

    The Hub is asked once (`whoami`, at most `WHOAMI_SECONDS`); a Hub that cannot be reached is not
    an error here (the push says so later, with the output intact).
    """
    if not getattr(args, "push_to_hub", None):
        return
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if not token:
        raise ConfigError("--push-to-hub needs a Hugging Face token, and none is set",
                          fix="run `hf auth login`, or set HF_TOKEN to a token with write access")  # fmt: skip
    result: list[BaseException | None] = []

    def ask() -> None:
        try:
            HfApi().whoami(token=token)
            result.append(None)
        except BaseException as err:
            result.append(err)

    worker = threading.Thread(target=ask, name="hf-vqa-whoami", daemon=True)
    worker.start()
    worker.join(WHOAMI_SECONDS)
    err = result[0] if result else None
    status = getattr(getattr(err, "response", None), "status_code", None)
    if status in (401, 403):
        raise ConfigError(f"the Hub refused the token (HTTP {status} from whoami)",
                          fix="run `hf auth login` again, or set HF_TOKEN to a valid token with write access")  # fmt: skip
