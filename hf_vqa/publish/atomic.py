"""Replacing an output atomically: write the new files beside the old ones, swap them in when complete.

A run that fails while writing (a full disk, a killed process) leaves the previous output as it was,
and no temporary file behind; the error is one line with the cause (for a full disk: where, how much
was needed and how much is free).

Example:
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with replacing(out, needed=10) as tmp:
    ...     _ = tmp.write_text('{"a": 1}\\n')
    >>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
    ('{"a": 1}\\n', ['out.jsonl'])
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from hf_vqa.errors import OutputError

__all__ = ["STAGING_PREFIX", "replacing", "staging_folder", "write_error"]

STAGING_PREFIX = ".hf_vqa-new-"
FULL_TEXTS = ("No space left on device", "Not enough disk space")


def write_error(
    err: BaseException, target: str | os.PathLike, needed: int | None = None, *, fix: str | None = None
) -> OutputError:
    """The one-line `OutputError` for a failed write of `target`, saying where and why.

    Example:
        >>> str(write_error(OSError(errno.ENOSPC, "No space left on device"), "/data/out", needed=3_000_000))[:52]
        'disk full: cannot write /data/out (needed about 3.0 '
    """
    target = Path(target)
    full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    if full or any(s in str(err) for s in FULL_TEXTS):  # pyarrow's and datasets' carry no errno
        free = _free(target)
        size = f"needed about {_size(needed)}, " if needed else ""
        return OutputError(f"disk full: cannot write {target} ({size}{free} free there); the previous output "
                           "is unchanged", fix=fix or "free some space or write --output to another disk")  # fmt: skip
    cause = f"{type(err).__name__}: {getattr(err, 'strerror', None) or err}"
    return OutputError(f"cannot write {target} ({cause}); the previous output is unchanged",
                       fix=fix or "check the path and its permissions")  # fmt: skip


@contextlib.contextmanager
def replacing(path: str | os.PathLike, *, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without error it replaces `path`
    (one rename). On error the temporary file is removed and an `OutputError` raised."""
    path = Path(path)
    tmp = path.with_name(f"{STAGING_PREFIX}{os.getpid()}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError):
            raise write_error(err, path, needed) from None
        raise


@contextlib.contextmanager
def staging_folder(folder: str | os.PathLike, *, needed: int | None = None) -> Iterator[Path]:
    """Yield an empty hidden folder inside `folder` (same disk, so moving out of it is a rename) for
    the new files; removed when the block ends. An `OSError` inside becomes an `OutputError`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stage = folder / f"{STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        stage.mkdir()
        yield stage
    except OSError as err:
        raise write_error(err, folder, needed) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _free(target: Path) -> str:
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return _size(shutil.disk_usage(probe).free)
    except OSError:
        return "unknown"
