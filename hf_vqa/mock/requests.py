"""Request parsing and checks for the loopback mock VLM (`hf_vqa.mock.server`).

`loads_request` parses a body, `request_validator` checks it against the bundled OpenAI request
schema (jsonschema, with a compiled fast path for valid bodies: `hf_vqa.mock.schema_check`), and `request_key`
gives equal requests equal keys (duplicate counting).

Example:
    >>> request_validator()({"model": "m", "messages": [{"role": "user", "content": "hi"}]}) is None
    True
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import re
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

from hf_vqa.errors import ConfigError, install_command
from hf_vqa.mock.schema_check import Unsupported, compile_checker, discriminated_one_of, never

_LIFT_MIN = 1024  # data URLs longer than this are lifted out of the body before json.loads
_DATA_URL_OPEN = re.compile(rb'"data:image/[A-Za-z0-9.+-]{1,100};base64,')
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


class _LongStr(str):
    """A long string (a base64 image) whose repr is short, so schema error messages stay cheap."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{self[:32]}...' ({len(self)} chars)"


def _wrap_long(obj: dict) -> dict:
    for key, value in obj.items():
        if type(value) is str and len(value) > 256:
            obj[key] = _LongStr(value)
    return obj


class _Interner:
    """Long data-URL strings already checked to be plain JSON text (``data:image/...;base64,`` and
    base64 characters only: no escapes, quotes or control characters), one shared `_LongStr` each.

    A bounded LRU indexed by (length, last 64 bytes); a hit is confirmed by comparing whole strings,
    so only identical text gets the shared string (whose ``hash()`` is then already computed).
    """

    def __init__(self, max_entries: int = 256, max_chars: int = 64 << 20) -> None:
        self.max_entries, self.max_chars, self.chars = max_entries, max_chars, 0
        self._entries: collections.OrderedDict[tuple[int, bytes], _LongStr] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, raw: bytes, start: int, data: int, end: int) -> _LongStr | None:
        """The string ``raw[start:end]`` (base64 from `data` on), or None if it is not plain base64."""
        key = (end - start, raw[end - 64 : end])
        try:
            text = str(memoryview(raw)[start:end], "ascii")
        except UnicodeDecodeError:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found == text:
                self._entries.move_to_end(key)
                return found
        if raw[data:end].translate(None, _BASE64):  # anything but base64 characters: let json decide
            return None
        shared = _LongStr(text)
        with self._lock:
            old = self._entries.pop(key, None)
            self.chars -= len(old) if old is not None else 0
            if len(shared) <= self.max_chars:
                self._entries[key] = shared
                self.chars += len(shared)
            while len(self._entries) > self.max_entries or self.chars > self.max_chars:
                self.chars -= len(self._entries.popitem(last=False)[1])
        return shared


_INTERNED = _Interner()


def _lift_data_urls(raw: bytes) -> tuple[bytes, dict[str, _LongStr]] | None:
    """`raw` with each long base64 data-URL string's text replaced by a slot ``"\\u0000<k>"``, and the
    slots' strings; None if there is nothing to lift or the rest of the body contains ``\\u0000`` (so
    after parsing, every string that starts with NUL is a slot). A string is lifted only after an
    unescaped quote and if it is plain base64 up to the next quote: its value is exactly its bytes."""
    if json.detect_encoding(raw) not in ("utf-8", "utf-8-sig"):
        return None
    pieces: list[bytes] = []
    slots: dict[str, _LongStr] = {}
    pos = search = 0
    while (start := raw.find(b'"data:image/', search)) >= 0:
        match = _DATA_URL_OPEN.match(raw, start)
        end = raw.find(b'"', match.end()) if match else -1
        search = end if end >= 0 else start + 1
        if match is None or end - start <= _LIFT_MIN or (start and raw[start - 1] == 0x5C):  # backslash
            continue
        if raw.find(b"\\", match.end(), end) >= 0:
            continue
        shared = _INTERNED.get(raw, start + 1, match.end(), end)
        if shared is None:
            continue
        pieces += [raw[pos : start + 1], b"\\u0000%d" % len(slots)]
        slots[f"\x00{len(slots)}"] = shared
        pos = end
    pieces.append(raw[pos:])
    if not slots or any(b"\\u0000" in piece for piece in pieces[::2]):
        return None
    return b"".join(pieces), slots


def loads_request(raw: bytes) -> Any:
    """`json.loads` for request bodies; long strings become `_LongStr` (short repr).

    Long base64 data URLs are lifted out of the bytes first (`_lift_data_urls`) and put back as
    shared strings, so the JSON scanner does not walk ~150 KB per image. The result equals
    ``json.loads`` of the whole body; when it could not (or on any parse error) the whole body is
    parsed instead. Example: ``loads_request(b'{}')``.
    """
    lifted = _lift_data_urls(raw) if len(raw) > _LIFT_MIN else None
    if lifted is not None:
        text, slots = lifted
        used: list[str] = []

        def hook(obj: dict) -> dict:
            for key, value in obj.items():
                if type(value) is str:
                    if value[:1] == "\x00" and value in slots:
                        obj[key] = slots[value]
                        used.append(value)
                    elif len(value) > 256:
                        obj[key] = _LongStr(value)
            return obj

        try:
            body = json.loads(text, object_hook=hook)
        except ValueError:
            pass
        else:
            if len(used) == len(slots) == len(set(used)):  # every slot back once, as a dict value
                return body
    return json.loads(raw, object_hook=_wrap_long)


def request_key(body: Any) -> str:
    """sha256 of the canonical JSON (sorted keys) of a request: equal requests give equal keys.

    Long strings (base64 images) enter as their length and 64-bit ``hash()``: a few µs instead of
    re-encoding and hashing ~150 KB per request. Keys are only compared within one process.
    Example: ``request_key({"b": 1, "a": 2}) == request_key({"a": 2, "b": 1})`` → True.
    """

    def skeleton(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: skeleton(v) for k, v in node.items()}
        if isinstance(node, list):
            return [skeleton(v) for v in node]
        return f"\x00long:{len(node)}:{hash(node)}" if isinstance(node, _LongStr) else node

    text = json.dumps(skeleton(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_schema(name: str) -> dict:
    """The bundled OpenAI schema, ``name`` = ``"request"`` or ``"response"``: ``load_schema("response")``."""
    path = resources.files("hf_vqa.mock").joinpath(f"schemas/create_chat_completion_{name}.schema.json")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def request_validator() -> Callable[[Any], str | None]:
    """Compile the request schema once; the result maps a body to an error message or None.

    A body `compile_checker` accepts is valid; jsonschema checks every other body and writes the
    message. Example: ``request_validator()({"model": "m"})`` → ``"... 'messages' is a required property"``.
    """
    try:
        import jsonschema
    except ImportError:
        raise ConfigError(
            "the mock VLM validates every request with jsonschema, which is not installed",
            fix=f"install the mock extra: {install_command('mock')}",
        ) from None
    schema = load_schema("request")
    cls = jsonschema.validators.validator_for(schema, default=None)  # the draft named by "$schema"
    if cls is None:
        raise ConfigError(
            "unknown JSON Schema draft", received=schema.get("$schema"), fix="use draft 2020-12"
        )
    cls.check_schema(schema)
    extended = jsonschema.validators.extend(
        cls, {"oneOf": discriminated_one_of(schema, cls.VALIDATORS["oneOf"])}
    )
    validator = extended(schema)
    try:
        accepts = compile_checker(schema) if cls is jsonschema.Draft202012Validator else never
    except Unsupported:
        accepts = never

    def validate(body: Any) -> str | None:
        if accepts(body):
            return None
        error = jsonschema.exceptions.best_match(validator.iter_errors(body))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"request does not match the OpenAI chat completion schema at {where}: {error.message[:300]}"

    return validate


__all__ = [
    "load_schema",
    "loads_request",
    "request_key",
    "request_validator",
]
