"""Adapting requests to what an endpoint says it accepts, once for the whole run.

Real OpenAI-compatible endpoints differ from OpenAI's schema, and say so in a 400:
OpenAI's GPT-5 family and o-series reject ``temperature``/``top_p`` other than 1 and reject
``max_tokens`` ("Use 'max_completion_tokens' instead", ``param``/``code`` set); thinking models on
DashScope/ModelScope answer only with ``stream=true``; Gemini's compatibility layer names unknown
fields. Rather than a table of model names, `change_for` reads the error and proposes one change
(drop a parameter, rename ``max_tokens``, switch to streaming); `Adaptations` applies every change
made so far to each request body. The record is shared by all processes of a run through a small
JSON file in the cache folder, and it is what the summary line and the dataset card report as sent.

Example:
    >>> info = error_info(b'{"error": {"message": "Unsupported parameter: \\'max_tokens\\' is not supported '
    ...     b'with this model. Use \\'max_completion_tokens\\' instead.", "param": "max_tokens"}}')
    >>> change_for(info, {"model": "m", "messages": [], "max_tokens": 9})
    Change(kind='rename', param='max_tokens', to='max_completion_tokens')
    >>> Adaptations().add(change_for(info, {"max_tokens": 9})).apply({"model": "m", "max_tokens": 9})
    {'model': 'm', 'max_completion_tokens': 9}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Adaptations", "Change", "ErrorInfo", "change_for", "error_info", "record_path"]

FIXED = frozenset({"model", "messages", "stream"})  # never dropped: the request would be meaningless
_QUOTED = re.compile(r"""['"`](\w+)['"`]""")
_REFUSES = re.compile(
    r"unsupported|not supported|deprecated|unknown (name|field|parameter)|not allowed|"
    r"extra (inputs|fields)|unrecognized",
    re.IGNORECASE,
)
_STREAM_ONLY = re.compile(
    r"only supports? stream|stream mode|stream\s*=\s*false|non-?stream|must enable stream|streaming is required",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ErrorInfo:
    """An error reply's fields, whatever its shape: the message, and `param`/`code`/`type` when given."""

    message: str
    param: str | None = None
    code: str | None = None
    type: str | None = None


def error_info(content: bytes, reason: str = "") -> ErrorInfo:
    """Read an error body of any common shape.

    OpenAI ``{"error": {"message", "type", "param", "code"}}``; vLLM ``{"object": "error",
    "message", "type", "param", "code"}``; DashScope ``{"code", "message", "request_id"}``; Gemini's
    ``[{"error": {...}}]``; FastAPI ``{"detail": ...}``; ``{"error": "text"}``; plain text.

    Example:
        >>> error_info(b'{"object": "error", "message": "At most 1 image(s) may be provided in one request.", "code": 400}').message
        'At most 1 image(s) may be provided in one request.'
        >>> error_info(b'{"code": "InvalidParameter", "message": "bad"}').code
        'InvalidParameter'
        >>> error_info(b"upstream connect error", "Bad Gateway").message
        'upstream connect error'
    """
    try:
        data: Any = json.loads(content) if content else None
    except ValueError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            data = inner
        elif isinstance(inner, str) and inner:
            return ErrorInfo(inner, code=_str(data.get("code")), type=_str(data.get("type")))
        message = data.get("message") or data.get("msg") or data.get("detail")
        if isinstance(message, (dict, list)):
            message = json.dumps(message, ensure_ascii=False)
        if message:
            code = data.get("code") if data.get("code") is not None else data.get("status")
            return ErrorInfo(str(message), _str(data.get("param")), _str(code), _str(data.get("type")))
    text = content[:300].decode("utf-8", "replace").strip() if content else ""
    if text and not text.startswith(("{", "[", "<")):
        return ErrorInfo(text)
    return ErrorInfo(reason or "error")


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Change:
    """One adaptation: ``drop`` a parameter, ``rename`` it `to` another, or switch to ``stream``."""

    kind: str
    param: str = ""
    to: str = ""

    def describe(self) -> str:
        """How the summary and card say it.

        Example:
            >>> Change("rename", "max_tokens", "max_completion_tokens").describe()
            'max_tokens→max_completion_tokens'
        """
        if self.kind == "rename":
            return f"{self.param}→{self.to}"
        if self.kind == "stream":
            return "stream=true"
        return f"no {self.param}"


def change_for(info: ErrorInfo, body: dict) -> Change | None:
    """The change a 400 asks for, or None when it names nothing we can change (a per-row error).

    Example:
        >>> msg = "Unsupported value: 'temperature' does not support 0.0 with this model. Only the default (1) value is supported."
        >>> change_for(ErrorInfo(msg, "temperature", "unsupported_value"), {"temperature": 0.0})
        Change(kind='drop', param='temperature', to='')
        >>> change_for(ErrorInfo("This model only support stream mode, please enable the stream parameter."), {})
        Change(kind='stream', param='', to='')
        >>> change_for(ErrorInfo("At most 1 image(s) may be provided in one request."), {"temperature": 0.0}) is None
        True
        >>> change_for(ErrorInfo("temperature is deprecated for this model."), {"temperature": 0.5}).param
        'temperature'
    """
    if not body.get("stream") and _STREAM_ONLY.search(info.message):
        return Change("stream")
    names = [info.param] if info.param else []
    names += _QUOTED.findall(info.message)
    if _REFUSES.search(info.message):  # "temperature is deprecated for this model" (no quotes, no param)
        names += [k for k in body if k not in FIXED and re.search(rf"\b{re.escape(k)}\b", info.message)]
    for name in names:
        if not name or name in FIXED:
            continue
        if name == "stream_options" and name in body:
            return Change("drop", name)
        if name not in body:
            continue
        if name == "max_tokens" and "max_completion_tokens" in info.message:
            return Change("rename", name, "max_completion_tokens")
        return Change("drop", name)
    return None


@dataclass
class Adaptations:
    """The changes made so far in this run; `apply` rewrites a request body with all of them."""

    changes: list[Change] = field(default_factory=list)

    def add(self, change: Change) -> Adaptations:
        """Remember `change` (once)."""
        if change not in self.changes:
            self.changes.append(change)
        return self

    @property
    def stream(self) -> bool:
        """True once the endpoint asked for streaming."""
        return any(c.kind == "stream" for c in self.changes)

    def apply(self, body: dict) -> dict:
        """A copy of `body` with every change applied (the same dict when there are none)."""
        if not self.changes:
            return body
        body = dict(body)
        for change in self.changes:
            if change.kind == "stream":
                body["stream"] = True
                if not any(c.kind == "drop" and c.param == "stream_options" for c in self.changes):
                    body["stream_options"] = {"include_usage": True}
            elif change.param in body:
                value = body.pop(change.param)
                if change.kind == "rename":
                    body[change.to] = value
        return body

    def describe(self) -> str:
        """``"no temperature, max_tokens→max_completion_tokens"``, or "" when nothing was changed."""
        return ", ".join(c.describe() for c in self.changes)

    # -- the run's shared record ---------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Merge into the shared record at `path` (other processes may have added changes)."""
        merged = Adaptations.load(path)
        for change in self.changes:
            merged.add(change)
        self.changes = merged.changes
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps([c.__dict__ for c in self.changes]))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Adaptations:
        """The shared record at `path` (empty when there is none or it cannot be read)."""
        try:
            return cls([Change(**c) for c in json.loads(path.read_text())])
        except (OSError, ValueError, TypeError):
            return cls()


def record_path(folder: Path, base_url: str, model: str, kind: str = "adapted") -> Path:
    """The shared record for one endpoint and model in the cache `folder` (`kind`: adapted / stopped).

    Example:
        >>> record_path(Path("/c"), "http://h/v1", "m").name.startswith("adapted-")
        True
    """
    name = hashlib.sha256(f"{base_url.rstrip('/')}|{model}".encode()).hexdigest()[:16]
    return Path(folder) / "endpoints" / f"{kind}-{name}.json"
