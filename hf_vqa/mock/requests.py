"""Request parsing and checks for the loopback mock VLM (`hf_vqa.mock.server`).

`loads_request` parses a body, `request_validator` checks it against the bundled OpenAI request
schema (jsonschema, with a compiled fast path for valid bodies: `compile_checker`), and `request_key`
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
import numbers
import re
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

from hf_vqa.errors import ConfigError, install_command

Check = Callable[[Any], bool]
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_LIFT_MIN = 1024  # data URLs longer than this are lifted out of the body before json.loads
_DATA_URL_OPEN = re.compile(rb'"data:image/[A-Za-z0-9.+-]{1,100};base64,')
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# What `compile_checker` implements (as jsonschema's Draft202012Validator does), and what it may skip:
# annotations, and "format", which jsonschema only asserts with a format_checker (we pass none).
_KEYWORDS = frozenset({
    "type", "enum", "properties", "additionalProperties", "required", "items", "minItems", "maxItems",
    "minimum", "maximum", "maxLength", "allOf", "anyOf", "oneOf", "$ref",
})  # fmt: skip
_ANNOTATIONS = frozenset({
    "$schema", "$defs", "$comment", "title", "description", "default", "deprecated", "examples",
    "discriminator", "readOnly", "writeOnly", "format",
})  # fmt: skip
_TYPES: dict[str, Check] = {  # jsonschema's draft 2020-12 type checker
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, numbers.Number) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}


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


def _discriminators(schema: dict) -> dict[int, tuple[str, dict[str, int]]]:
    """For each `oneOf` list (by ``id``) whose branches all require property P with disjoint string
    enums (a discriminator such as ``role`` or ``type``): P and a map from P's value to the branch."""
    defs = schema.get("$defs", {})
    tables: dict[int, tuple[str, dict[str, int]]] = {}

    def resolve(branch: dict) -> dict:
        ref = branch.get("$ref", "")
        return defs.get(ref.rpartition("/")[2], {}) if ref.startswith("#/$defs/") else branch

    def table(branches: list) -> tuple[str, dict[str, int]] | None:
        resolved = [resolve(b) for b in branches]
        for prop in sorted(set.intersection(*(set(r.get("required", [])) for r in resolved))):
            enums = [r.get("properties", {}).get(prop, {}).get("enum") for r in resolved]
            if not all(isinstance(e, list) and all(isinstance(v, str) for v in e) for e in enums):
                continue
            values = [v for e in enums for v in e]
            if len(values) == len(set(values)):
                return prop, {v: i for i, e in enumerate(enums) for v in e}
        return None

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            branches = node.get("oneOf")
            if isinstance(branches, list) and len(branches) > 1 and (found := table(branches)):
                tables[id(branches)] = found
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return tables


def _discriminated_one_of(schema: dict, one_of: Callable) -> Callable:
    """A `oneOf` keyword that, for a discriminated `oneOf` (`_discriminators`), validates only the
    branch the instance names. The other branches cannot match then, so the result is the same,
    ~25x faster, with clearer errors."""
    tables = _discriminators(schema)

    def fast_one_of(validator: Any, branches: list, instance: Any, subschema: dict) -> Any:
        found = tables.get(id(branches))
        if found is not None and isinstance(instance, dict):
            value = instance.get(found[0])
            index = found[1].get(value) if isinstance(value, str) else None
            if index is not None:
                yield from validator.descend(instance, branches[index], schema_path=index)
                return
        yield from one_of(validator, branches, instance, subschema)

    return fast_one_of


class Unsupported(ValueError):
    """The schema uses something `compile_checker` does not implement."""


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _every(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        return all(check(value) for check in checks)

    return every


def compile_checker(schema: dict) -> Check:
    """Compile a draft 2020-12 `schema` into a function body → valid?, or raise `Unsupported`.

    It gives the same answer as jsonschema's ``Draft202012Validator(schema).is_valid`` (no format
    checker), ~40x faster, for schemas built only from `_KEYWORDS`, annotations and local
    ``#/$defs/...`` references; any other keyword raises `Unsupported`. `request_validator` uses it to
    accept valid bodies and asks jsonschema itself about every other body.

    Example:
        >>> check = compile_checker({"$schema": DRAFT_2020_12, "type": "object", "required": ["a"]})
        >>> check({"a": 1}), check({"b": 1})
        (True, False)
    """
    if schema.get("$schema") != DRAFT_2020_12:
        raise Unsupported(f"$schema must be {DRAFT_2020_12}")
    defs, discriminators = schema.get("$defs", {}), _discriminators(schema)
    compiled: dict[str, Check] = {}
    in_progress: set[str] = set()

    def ref(target: Any) -> Check:
        name = target.removeprefix("#/$defs/") if isinstance(target, str) else ""
        if name in ("", target) or name not in defs or any(c in name for c in "/~%#"):
            raise Unsupported(f"$ref {target!r}: only local #/$defs/<name> references are compiled")
        if name in in_progress:  # a recursive schema: look the check up when it runs
            return lambda value: compiled[name](value)
        if name not in compiled:
            in_progress.add(name)
            compiled[name] = node(defs[name])
            in_progress.discard(name)
        return compiled[name]

    def node(s: Any) -> Check:
        if s is True or s is False:
            return _always if s else _never
        if not isinstance(s, dict):
            raise Unsupported(f"a schema must be an object or a boolean, not {s!r}")
        unknown = [k for k in s if k not in _KEYWORDS and k not in _ANNOTATIONS and not k.startswith("x-")]
        if unknown:
            raise Unsupported(f"keywords {unknown}")
        checks = []
        if "type" in s:
            names = [s["type"]] if isinstance(s["type"], str) else s["type"]
            if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
                raise Unsupported(f"type {s['type']!r}")
            tests = [_TYPES[n] for n in names]
            checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
        if "enum" in s:
            if not isinstance(s["enum"], list) or not all(isinstance(e, str) for e in s["enum"]):
                raise Unsupported("enum values other than strings")
            allowed = frozenset(s["enum"])  # jsonschema's equal(): a string equals only that string
            checks.append(lambda v: isinstance(v, str) and v in allowed)
        if {"properties", "additionalProperties", "required"} & s.keys():
            checks.append(object_check(s))
        if {"items", "minItems", "maxItems"} & s.keys():
            checks.append(array_check(s))
        if "minimum" in s or "maximum" in s:
            low, high = s.get("minimum"), s.get("maximum")
            checks.append(
                lambda v: (
                    not _TYPES["number"](v)
                    or ((low is None or not v < low) and (high is None or not v > high))
                )
            )
        if "maxLength" in s:
            longest = s["maxLength"]
            checks.append(lambda v: not isinstance(v, str) or len(v) <= longest)
        if "allOf" in s:
            checks.append(_every([node(b) for b in s["allOf"]]))
        if "anyOf" in s:
            branches = [node(b) for b in s["anyOf"]]
            checks.append(lambda v: any(b(v) for b in branches))
        if "oneOf" in s:
            checks.append(one_of(s["oneOf"]))
        if "$ref" in s:
            checks.append(ref(s["$ref"]))
        return _every(checks)

    def object_check(s: dict) -> Check:
        props = {k: node(v) for k, v in s.get("properties", {}).items()}
        required = tuple(s.get("required", ()))
        extra = s.get("additionalProperties", True)
        extra_check = None if extra is True else node(extra)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key in required:
                if key not in v:
                    return False
            for key, item in v.items():
                prop = props.get(key)
                if prop is not None:
                    if not prop(item):
                        return False
                elif extra_check is not None and not extra_check(item):
                    return False
            return True

        return check

    def array_check(s: dict) -> Check:
        item = node(s["items"]) if "items" in s else _always
        low, high = s.get("minItems", 0), s.get("maxItems")

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            if len(v) < low or (high is not None and len(v) > high):
                return False
            return all(item(x) for x in v)

        return check

    def one_of(branches: list) -> Check:
        found, checks = discriminators.get(id(branches)), [node(b) for b in branches]

        def check(v: Any) -> bool:
            if found is not None and isinstance(v, dict):
                value = v.get(found[0])
                index = found[1].get(value) if isinstance(value, str) else None
                if index is not None:  # the other branches require other values: they fail
                    return checks[index](v)
            return sum(1 for c in checks if c(v)) == 1

        return check

    root = node(schema)
    return root


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
        cls, {"oneOf": _discriminated_one_of(schema, cls.VALIDATORS["oneOf"])}
    )
    validator = extended(schema)
    try:
        accepts = compile_checker(schema) if cls is jsonschema.Draft202012Validator else _never
    except Unsupported:
        accepts = _never

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
    "DRAFT_2020_12",
    "Unsupported",
    "compile_checker",
    "load_schema",
    "loads_request",
    "request_key",
    "request_validator",
]
