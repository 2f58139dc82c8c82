"""Is this exact CLI job already finished? Answered before `datasets` (or anything heavy) is imported.

A job is the subcommand, its normalised arguments, the environment that picks the endpoint and model,
hf_vqa's version and code, and a stamp of the input (`inputs/stamps.py`, the same one the loaders put in
their Arrow fingerprints). `jobs.json` in the cache folder is the one "already done" manifest, one
entry per output: a stamp of the output as written, the `datasets` fingerprint of the data in it
(`wrote`/`holds`: an unchanged result is not written again) and, after a run with 0 failed rows,
the job's key and summary line (`remember`/`finished`: the same command is answered "up to date").

Only plain runs of a local records file or image folder qualify: `--force`, `--retry-failed`,
`--no-cache`, `--push-to-hub`, `--shard`, `--ray` and `--export` always run, and so does any other input. Both
functions never raise: when anything goes wrong the answer is "not finished", and the run goes on.

Example:
    >>> import argparse, tempfile
    >>> args = argparse.Namespace(pipeline="image-vqa", input="me/dataset", output="out", cache_dir=None)
    >>> job_key(args, mock=False) is None  # a Hub input: never skipped
    True
    >>> finished(None, "out") is None
    True
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from hf_vqa.config import cache_folder
from hf_vqa.inputs.stamps import folder_stamp, input_stamp
from hf_vqa.version import __version__

MANIFEST = "jobs.json"
# flags that never run with a qualifying job, or only steer this check: not part of the key
NOT_IN_KEY = ("force", "private", "config_name", "commit_message")
PATHS = ("input", "output", "cache_dir", "export_dir")
ALWAYS_RUN = ("force", "retry_failed", "no_cache", "push_to_hub", "shard", "export", "ray")
_PACKAGE = Path(__file__).resolve().parent.parent  # hf_vqa/


def job_key(args: argparse.Namespace, *, mock: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """The hash of everything that determines this run's output, or None if the run must not be skipped.

    `mock` says whether the bundled mock VLM answers (then the model is 'mock-vlm'). Call it before
    the run starts: a stamp taken afterwards could describe an input edited during the run.

    Example:
        >>> args = argparse.Namespace(pipeline="image-vqa", input=__file__, output="o.json", force=True)
        >>> job_key(args, mock=True) is None  # --force
        True
    """
    try:
        if any(getattr(args, flag, None) for flag in ALWAYS_RUN) or not getattr(args, "input", None):
            return None
        stamp = input_stamp(args.input)
        if stamp is None:
            return None
        env = os.environ if environ is None else environ
        job = {
            "version": __version__,
            "code": _code_stamp(),
            "arguments": _normalised(args),
            "environment": {
                "OPENAI_BASE_URL": env.get("OPENAI_BASE_URL"),
                "mock": mock,
                "model": "mock-vlm" if mock else getattr(args, "model", None),
            },
            "input": stamp,
        }
        return hashlib.sha256(json.dumps(job, sort_keys=True, default=str).encode()).hexdigest()
    except Exception:  # the check must never fail a run
        return None


def finished(key: str | None, output: str, cache_dir: str | None = None) -> str | None:
    """The summary line of the finished job `key` if `output` is still exactly as it wrote it, else None.

    Example:
        >>> import tempfile
        >>> finished("0" * 64, "out.json", cache_dir=tempfile.mkdtemp()) is None  # never recorded
        True
    """
    if key is None:
        return None
    try:
        entry = _entry(output, cache_dir)
        if entry is None or entry.get("job") != key or not entry.get("summary"):
            return None
        return str(entry["summary"])
    except Exception:
        return None


def remember(key: str | None, output: str, summary: str, cache_dir: str | None = None) -> None:
    """Record that job `key` wrote `output` (as it is now) and ended with the line `summary`.

    Call it only after a run with 0 failed rows. The manifest holds one entry per output: a new job
    that writes the same output replaces the old one (its output is gone).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp(); out = os.path.join(folder, "out.json")
        >>> _ = Path(out).write_text("[]")
        >>> remember("k" * 64, out, "rows=1 succeeded=1 failed=0", cache_dir=folder)
        >>> finished("k" * 64, out, cache_dir=folder)
        'rows=1 succeeded=1 failed=0'
    """
    if key is None:
        return
    with contextlib.suppress(Exception):  # only an optimisation
        state = output_state(output)
        old = _read(manifest_path(cache_dir)).get(state["marker"])
        fingerprint = old.get("fingerprint") if isinstance(old, dict) else None
        _write_entry(state, {"fingerprint": fingerprint, "job": key, "summary": summary}, cache_dir)


def wrote(output: str, fingerprint: str, cache_dir: str | None = None) -> None:
    """Record that `output` now holds the data whose `datasets` fingerprint is `fingerprint`.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp(); out = os.path.join(folder, "out.json")
        >>> _ = Path(out).write_text("[]")
        >>> wrote(out, "f1", cache_dir=folder)
        >>> holds(out, "f1", cache_dir=folder), holds(out, "f2", cache_dir=folder)
        (True, False)
    """
    with contextlib.suppress(Exception):  # only an optimisation
        _write_entry(
            output_state(output), {"fingerprint": fingerprint, "job": None, "summary": None}, cache_dir
        )


def holds(output: str, fingerprint: str, cache_dir: str | None = None) -> bool:
    """True when `output` is untouched since `wrote(output, fingerprint)`: writing it again changes nothing."""
    try:
        entry = _entry(output, cache_dir)
        return entry is not None and entry.get("fingerprint") == fingerprint
    except Exception:
        return False


def _entry(output: str, cache_dir: str | None) -> dict | None:
    """The manifest's entry for `output` if the output is still exactly as recorded, else None."""
    state = output_state(output)
    entry = _read(manifest_path(cache_dir)).get(state["marker"])
    if not isinstance(entry, dict) or entry.get("output") != state:
        return None
    return entry


def _write_entry(state: dict, fields: dict, cache_dir: str | None) -> None:
    path = manifest_path(cache_dir)
    entries = _read(path)
    entries[state["marker"]] = {"output": state, **fields, "written": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(entries, indent=1))
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no *.tmp behind


def output_marker(output: str | os.PathLike) -> Path:
    """The file that is written last: the JSON/JSONL file itself, or a folder output's README.md.

    Example:
        >>> output_marker("out/run1").name, output_marker("out/run1.jsonl").name
        ('README.md', 'run1.jsonl')
    """
    out = Path(output)
    return out if out.suffix.lower() in (".json", ".jsonl") else out / "README.md"


def manifest_path(cache_dir: str | None = None) -> Path:
    """`jobs.json` in the cache folder (`config.cache_folder`): the one "already done" manifest.

    Example:
        >>> manifest_path("/tmp/c").as_posix()
        '/tmp/c/jobs.json'
    """
    return cache_folder(cache_dir) / MANIFEST


def output_state(output: str | os.PathLike) -> dict:
    """The output marker's path and mtime_ns, plus a stamp of every file of the output (a folder's too).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "out.json"
        >>> _ = out.write_text("[]")
        >>> sorted(output_state(out))
        ['files', 'marker', 'mtime_ns']
    """
    marker = output_marker(output).resolve()
    out = Path(output).resolve()
    files = sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else [out]
    return {"marker": str(marker), "mtime_ns": marker.stat().st_mtime_ns, "files": folder_stamp(files)}


def _normalised(args: argparse.Namespace) -> dict:
    values = {k: v for k, v in vars(args).items() if k not in NOT_IN_KEY}
    for name in PATHS:
        if values.get(name):
            values[name] = str(Path(values[name]).resolve())
    values["filter"] = sorted(set(values.get("filter") or []))
    return values


def _code_stamp() -> str:
    """hf_vqa's own files (a code change can change the output even when the version does not)."""
    return folder_stamp(
        p for p in sorted(_PACKAGE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
    )


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = [
    "finished",
    "holds",
    "job_key",
    "manifest_path",
    "output_marker",
    "output_state",
    "remember",
    "wrote",
]
