"""A compiled checker for the mock's request schema: JSON Schema draft 2020-12, the keywords it uses.

`compile_checker` gives the answer jsonschema's `Draft202012Validator(schema).is_valid` gives, ~40x faster,
so the mock accepts valid bodies quickly; `discriminated_one_of` lets jsonschema itself report the one
`oneOf` branch a body's discriminator names (`hf_vqa.mock.requests.request_validator` uses both).

Example:
    >>> compile_checker({"$schema": DRAFT_2020_12, "type": "array"})([1])
    True
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


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


def discriminated_one_of(schema: dict, one_of: Callable) -> Callable:
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


def never(value: Any) -> bool:
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
            return _always if s else never
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


__all__ = ["DRAFT_2020_12", "Check", "Unsupported", "compile_checker", "discriminated_one_of", "never"]
