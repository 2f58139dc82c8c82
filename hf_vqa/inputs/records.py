"""Reading a seed records file (.json/.jsonl) into checked, normalised rows, without `datasets`.

`inputs/load.py` turns these rows into an Arrow-backed `datasets.Dataset`; the warm start
(`runner/warm.py`) sends their first requests while `datasets` is still being imported.

Example:
    >>> rows = read_records("examples/sample/records.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hf_vqa.errors import InputError
from hf_vqa.inputs.stamps import file_stamp
from hf_vqa.inputs.unencodable import clean

__all__ = ["read_records"]


def read_records(path: str | os.PathLike, *, keep: bool = True) -> list[dict]:
    """The records of a .json/.jsonl seed file, checked and normalised as `load_records` stores them:
    `image` a list of paths (resolved against the file's folder) or URLs, `conversation` a list of
    `{"from", "value"}` turns, other fields kept. A bad file raises `InputError` naming the record.

    The last file read is remembered (by path, size and modification time), so a warm start and
    `load_records` read it once; `keep=False` (what `load_records` passes) forgets it once read, so a
    long run does not hold every record twice.

    Example:
        >>> read_records("examples/sample/records.json")[0]["conversation"][0]["from"]
        'human'
    """
    path = Path(path).resolve()
    stamp = file_stamp(path) if path.exists() else None
    if stamp is not None and _LAST.get("key") == (str(path), stamp):
        rows = _LAST["rows"]
        if not keep:
            _LAST.clear()
        return rows
    rows = _normalized_rows(path)
    if stamp is not None and keep:
        _LAST.update(key=(str(path), stamp), rows=rows)
    return rows


_LAST: dict[str, Any] = {}  # the last file `read_records` read: {"key": (path, stamp), "rows": [...]}


def _normalized_rows(path: Path) -> list[dict]:
    records, maybe_unencodable = _read_records(path)
    keep = clean if maybe_unencodable else _as_is  # no surrogate in the file: every string encodes
    resolve = _resolver(path.parent)
    rows = []
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(f"record {n} in {path} is not an object", received=record,
                             fix='each record looks like {"image": ["a.jpg"], "conversation": [...]}')  # fmt: skip
        if "image" not in record and "images" not in record:
            raise InputError(f"record {n} in {path} has no 'image' field", received=sorted(record),
                             fix='add "image": ["path/or/url.jpg"] to every record')  # fmt: skip
        images = record.get("image", record.get("images"))
        images = [images] if isinstance(images, str) else images
        if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
            raise InputError(f"record {n} in {path}: 'image' must be a path/URL or a list of them",
                             received=images, fix='use "image": ["a.jpg", "https://..."]')  # fmt: skip
        row = {k: keep(v) for k, v in record.items() if k not in ("images", "conversations")}
        row["image"] = [keep(resolve(i)) for i in images]
        row["conversation"] = keep(_turns(record, n, path), mark=True)  # such a row fails alone
        rows.append(row)
    if not rows:
        raise InputError(f"{path} holds no records", fix="add at least one record")
    return rows


def _as_is(value: Any, *, mark: bool = False) -> Any:
    del mark
    return value


# a lone surrogate in the text (bytes read with surrogateescape) or a JSON escape that may make one
_MAYBE_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


def _read_records(path: Path) -> tuple[list[Any], bool]:
    """The records, and whether a string in them may not encode as UTF-8 (then `clean` them)."""
    if not path.exists():
        raise InputError("records file not found", received=str(path), fix="check the path")
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")  # bad bytes fail their row only
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"cannot read {path}", received=str(err), fix="pass a UTF-8 JSON/JSONL file"
        ) from None
    maybe_unencodable = _MAYBE_SURROGATE.search(text) is not None
    if path.suffix.lower() == ".jsonl":
        records = []
        for line_no, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise InputError(f"{path}:{line_no} is not valid JSON", received=f"{err.msg}: {line[:80]}",
                                     fix="fix that line (one JSON object per line)") from None  # fmt: skip
        return records, maybe_unencodable
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno})", received=err.msg,
                         fix="fix the JSON, or use .jsonl with one record per line") from None  # fmt: skip
    if isinstance(data, dict):
        data = data.get("data") or data.get("records") or [data]
    if not isinstance(data, list):
        raise InputError(
            f"{path} must hold a list of records", received=type(data).__name__, fix="wrap them in [...]"
        )
    return data, maybe_unencodable


def _resolver(base: Path) -> Callable[[str], str]:
    """`resolve(ref)`: a URL as it is, else the path as `(base / ref).resolve()` gives it, each folder
    resolved once (a records file names thousands of images in a few folders)."""
    folders: dict[str, str] = {}

    def resolve(ref: str) -> str:
        if "://" in ref:
            return ref
        full = os.path.join(base, os.path.expanduser(ref))  # an absolute ref replaces `base`
        head, name = os.path.split(full)
        if name in ("", ".", ".."):
            return str(Path(full).resolve())
        real = folders.get(head)
        if real is None:
            real = folders[head] = os.path.realpath(head)
        joined = os.path.join(real, name)
        return os.path.realpath(joined) if os.path.islink(joined) else joined

    return resolve


def _turns(record: dict, n: int, path: Path) -> list[dict]:
    conv = record.get("conversation", record.get("conversations")) or []
    if not isinstance(conv, list):
        raise InputError(f"record {n} in {path}: 'conversation' must be a list of turns", received=conv,
                         fix='use [{"from": "human", "value": "<image>\\nQuestion?"}]')  # fmt: skip
    turns = []
    for turn in conv:
        if not isinstance(turn, dict):
            raise InputError(f"record {n} in {path}: a conversation turn is not an object", received=turn,
                             fix='use {"from": "human", "value": "..."}')  # fmt: skip
        turns.append(
            {
                "from": str(turn.get("from", turn.get("role", ""))),
                "value": str(turn.get("value", turn.get("content", ""))),
            }
        )
    return turns
