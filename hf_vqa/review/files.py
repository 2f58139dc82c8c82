"""Review by hand-carried file, in Label Studio's own JSON formats (no server needed on hf_vqa's side).

- `write_tasks_file`: Label Studio's import format, a JSON list of `{"data": {...}}` with the images inline
  as data URLs (the file stands alone), plus the labeling config beside it (`<name>.label_config.xml`):
  create a project with that config and import the file (Label Studio: Import > Upload Files).
- `read_tasks_file`: Label Studio's JSON export (Export > JSON), or an import-format file whose tasks carry
  `annotations` (scripted labels): a list of tasks, each with `data` and `annotations[].result`.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "review.json"
    >>> _ = write_tasks_file([{"data": {"hf_vqa_id": "x", "row": 0, "pairs": []}}], path, "<View/>")
    >>> read_tasks_file(path)[0]["data"]["row"]
    0
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from hf_vqa.errors import InputError
from hf_vqa.publish.atomic import replacing

__all__ = ["MAX_FILE_BYTES", "config_path", "data_url", "read_tasks_file", "write_tasks_file"]

MAX_FILE_BYTES = 2 * 1024**3  # a review file larger than this is refused, not read
_MIME = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"),
         (b"BM", "image/bmp"))  # fmt: skip


def image_mime(data: bytes) -> tuple[str, str]:
    """(MIME type, file extension) of encoded image bytes, from their first bytes.

    Example:
        >>> image_mime(b"\\x89PNG\\r\\n\\x1a\\n....")
        ('image/png', 'png')
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    for magic, mime in _MIME:
        if data.startswith(magic):
            return mime, mime.split("/")[1].replace("jpeg", "jpg")
    return "application/octet-stream", "bin"


def data_url(data: bytes) -> str:
    """A `data:` URL for image bytes (Label Studio's Image tag shows it as it is)."""
    return f"data:{image_mime(data)[0]};base64,{base64.b64encode(data).decode('ascii')}"


def config_path(path: str | os.PathLike) -> Path:
    """Where the labeling config goes beside a tasks file: `review.json` -> `review.label_config.xml`."""
    path = Path(path)
    return path.with_name(path.stem + ".label_config.xml")


def write_tasks_file(tasks: list[dict], path: str | os.PathLike, label_config: str) -> Path:
    """Write `tasks` in Label Studio's import format, and the labeling config beside them; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    with replacing(config_path(path)) as tmp:
        tmp.write_text(label_config + "\n", encoding="utf-8")
    return path


def read_tasks_file(path: str | os.PathLike) -> list[dict]:
    """Tasks with annotations from Label Studio's JSON export (or an import-format file with annotations)."""
    path = Path(path)
    fix = "pass Label Studio's JSON export (Export > JSON), a list of tasks with data and annotations"
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError("the review file is too large", received=f"{path}: {size} bytes",
                             fix=f"export fewer tasks per file (at most {MAX_FILE_BYTES} bytes)")  # fmt: skip
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError("cannot read the review file", received=f"{path}: {err.strerror}", fix=fix) from None
    except ValueError as err:
        raise InputError("the review file is not JSON", received=f"{path}: {err}", fix=fix) from None
    if isinstance(tasks, dict):  # one task
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("data"), dict)
                                              for t in tasks):  # fmt: skip
        raise InputError("the review file is not a list of Label Studio tasks", received=str(path), fix=fix)
    return tasks
