"""A small exception tree. Every error says what was wrong, what was received, and how to fix it.

All exceptions here pickle and unpickle cleanly, so they can cross a `num_proc` worker boundary
without hanging the pool (unlike some `openai` exceptions, which need keyword-only arguments).

Example:
    >>> err = ConfigError("max_concurrency must be >= 1", received=0, fix="pass max_concurrency=8")
    >>> str(err)
    'max_concurrency must be >= 1 (received: 0). Fix: pass max_concurrency=8'
"""

from __future__ import annotations

from typing import Any


def install_command(extra: str) -> str:
    """The pip command that adds hf_vqa's `extra` the way hf_vqa is installed here: `-e <checkout>`
    for a source checkout (an editable install), else the package from the index.

    Example:
        >>> "pip install" in install_command("mock") and "[mock]" in install_command("mock")
        True
    """
    import os
    import shlex
    import sys
    from pathlib import Path

    def short(path: Path) -> str:  # relative to the current folder when inside it
        here, path = Path.cwd(), path.absolute()  # not resolved: a venv's python is a symlink
        return os.path.relpath(path) if here == path or here in path.parents else str(path)

    pip = f"{short(Path(sys.executable))} -m pip install"
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and 'name = "hf_vqa"' in (root / "pyproject.toml").read_text(
        errors="replace"
    ):
        return f"{pip} -e {shlex.quote(short(root) + f'[{extra}]')}"
    return f"{pip} {shlex.quote(f'hf_vqa[{extra}]')}"


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rebuild(cls: type, state: dict) -> HfVqaError:
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    Exception.__init__(obj, obj.render())
    return obj


class HfVqaError(Exception):
    """Base class: `what` went wrong, the value `received`, and the `fix`."""

    def __init__(self, what: str, *, received: Any = None, fix: str = "") -> None:
        self.what = what
        self.received = None if received is None else _short(received)
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        text = self.what
        if self.received is not None:
            text += f" (received: {self.received})"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text

    def __reduce__(self):
        return (_rebuild, (type(self), dict(self.__dict__)))


class ConfigError(HfVqaError, ValueError):
    """A setting (a `VLM` field, a CLI flag, an environment variable) is invalid or missing."""


class InputError(HfVqaError, ValueError):
    """The input as a whole (a records file, a folder, a dataset) cannot be used."""


class MissingInstruction(InputError, ConfigError):
    """A row has no human turn and no prompt was given. For one row it is the row's problem; when
    every row of a batch has it, a setting is missing (`prompt=...`, `--prompt`) and the map stops."""


class ImageError(HfVqaError):
    """One image could not be loaded or encoded. Recorded per row; never aborts a run."""

    def __init__(self, what: str, *, source: str = "", received: Any = None, fix: str = "") -> None:
        self.source = source
        super().__init__(what, received=received, fix=fix)

    def render(self) -> str:
        prefix = f"image {self.source}: " if self.source else "image: "
        return prefix + super().render()


class RequestError(HfVqaError):
    """A request to the VLM failed after its retries. Recorded per row; never aborts a run."""

    def __init__(
        self,
        what: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
        received: Any = None,
        fix: str = "",
    ) -> None:
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        super().__init__(what, received=received, fix=fix)

    def render(self) -> str:
        head = f"HTTP {self.status}" if self.status else "request failed"
        return f"{head} after {self.attempts} attempt(s): {super().render()}"


class OutputError(HfVqaError):
    """An output (a folder, a records file, an export) could not be written; the previous one is intact."""


class EndpointError(HfVqaError):
    """The endpoint refused the whole run (a wrong key, model or URL; the same 400 for every request).

    Raised out of the map function, so the run stops at once and nothing failed is cached.

    Example:
        >>> str(EndpointError("HTTP 401 from api.openai.com: Incorrect API key provided"))
        'the endpoint refused the run, nothing more was sent: HTTP 401 from api.openai.com: Incorrect API key provided'
    """

    def render(self) -> str:
        return "the endpoint refused the run, nothing more was sent: " + super().render()


class ParseError(HfVqaError):
    """Model output could not be parsed into the expected structure."""


class BatchError(HfVqaError):
    """A batch-API call (upload, create, poll, download, cancel) failed, or a batch manifest is unusable."""


class HubError(HfVqaError):
    """Publishing to the Hugging Face Hub failed. The local output is left intact."""

    def __init__(self, what: str, *, status: int | None = None, received: Any = None, fix: str = "") -> None:
        self.status = status
        super().__init__(what, received=received, fix=fix)


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace and cut to `limit` characters, for per-row error columns.

    Example:
        >>> one_line("a\\n  b")
        'a b'
    """
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "BatchError",
    "ConfigError",
    "EndpointError",
    "HfVqaError",
    "HubError",
    "ImageError",
    "InputError",
    "MissingInstruction",
    "ParseError",
    "RequestError",
    "install_command",
    "one_line",
]
