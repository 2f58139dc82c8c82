"""`build_dataset.py store --check | --repair [--cache-dir DIR]`: the request store's integrity.

``--check`` says whether the store is healthy (exit 0) or not (exit 1): SQLite's integrity check, the
``replies`` table's shape, and every stored row's values (a row that is not an answer is asked again
by the next run). ``--repair`` moves a damaged or wrong-shaped store aside and copies every readable
reply into a new one, and drops the rows that are not answers. A run repairs a damaged file by
itself; a wrong-shaped table stops it with this fix.

Example:
    $ python scripts/build_dataset.py store --check
    ok: ~/.cache/huggingface/hf_vqa/replies.sqlite (1,204 replies, 3.1 MB)
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from hf_vqa.cli.command import EXIT_INCOMPLETE, EXIT_OK, command_line

__all__ = ["add_store_subcommand", "run_store"]


def add_store_subcommand(subparsers, **parser_kwargs) -> argparse.ArgumentParser:
    """Add `store --check | --repair [--cache-dir DIR]` to the CLI's subcommands."""
    what = "check or repair the request store (the paid replies)"
    p = subparsers.add_parser("store", help=what, description=f"store: {what}.", **parser_kwargs)
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--check", action="store_true", help="say whether the store is healthy (exit 1 if not)"
    )
    action.add_argument("--repair", action="store_true",
                        help="move a damaged store aside and keep every reply that can still be read")  # fmt: skip
    p.add_argument("--cache-dir", default=None, help="where the store lives (default: $HF_VQA_CACHE)")
    return p


def run_store(args: argparse.Namespace) -> int:
    """Run `store --check` or `store --repair`; prints one line, returns the exit code.

    Example:
        >>> import tempfile
        >>> run_store(argparse.Namespace(check=True, repair=False, cache_dir=tempfile.mkdtemp()))  # doctest: +ELLIPSIS
        no store yet: .../replies.sqlite
        0
    """
    from hf_vqa.config import cache_folder
    from hf_vqa.engine.store import FILENAME
    from hf_vqa.engine.store_repair import bad_rows, check, drop_bad_rows, locked, repair

    path = cache_folder(args.cache_dir) / FILENAME
    if not path.exists():
        print(f"no store yet: {path}")
        return EXIT_OK
    if args.check:
        problem = check(path)
        if problem is not None:
            print(f"damaged: {path} ({problem}); fix: {command_line(['store', '--repair'])}", file=sys.stderr)
            return EXIT_INCOMPLETE
        count, shown = _values(path, bad_rows)
        if count:
            print(f"damaged: {path}: {count:,} stored row(s) are not answers ({'; '.join(shown)}); a run asks "
                  f"for them again; fix: {command_line(['store', '--repair'])} drops them", file=sys.stderr)  # fmt: skip
            return EXIT_INCOMPLETE
        print(f"ok: {path} ({_count(path):,} replies, {_megabytes(path):.1f} MB)")
        return EXIT_OK
    with locked(path):
        done = repair(path)
        dropped = _values(path, drop_bad_rows)
    if dropped:
        print(f"dropped {dropped:,} stored row(s) that were not answers (a run asks for them again)")
    if done.problem is None:
        print(f"ok: {path} ({_count(path):,} replies; nothing else to repair)")
    else:
        print(f"repaired: {path} was damaged ({done.problem}); moved aside to {done.moved_to.name}, "
              f"{done.recovered:,} replies recovered into a new store")  # fmt: skip
    return EXIT_OK


def _values(path: Path, do):
    """`do(conn)` on the store at `path` (texts that are not UTF-8 read as bytes)."""
    from hf_vqa.engine.store_repair import text_or_bytes

    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.text_factory = text_or_bytes
    try:
        return do(conn)
    finally:
        conn.close()


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _megabytes(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()) / 1e6
