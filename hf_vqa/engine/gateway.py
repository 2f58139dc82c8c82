"""Extra headers and query parameters for every request, for gateways and routers.

LiteLLM routes `/v1/batches` only with a model hint (`x-litellm-model` or `?model=`), OpenRouter asks
for `HTTP-Referer`/`X-Title`, some Azure setups want an `api-key` header and `?api-version=`. These
are given as `--header NAME=VALUE` / `--query NAME=VALUE` on the command line, or from Python with
`set_gateway(headers=..., query=...)`. They live in the environment (`HF_VQA_HEADERS`,
`HF_VQA_QUERY`, JSON objects), like the API key: never in a `VLM`, never in `fn_kwargs`, so never in a
cache key, a card or a log. `num_proc` workers inherit them.

A value may be a secret (an `api-key` header, a signed query): every value is redacted from messages
and stored error texts like the key, except those of a few names that are public by nature
(`PUBLIC_NAMES`), which may also be shown in a command line.

Example:
    >>> parse_pairs(["HTTP-Referer=https://me.example", "x-litellm-model=gpt-4o"], "--header")
    {'HTTP-Referer': 'https://me.example', 'x-litellm-model': 'gpt-4o'}
    >>> shown_value("api-key", "abc123secret"), shown_value("X-Title", "my app")
    ('<hidden>', 'my app')
"""

from __future__ import annotations

import json
import os

from hf_vqa.errors import ConfigError

__all__ = [
    "HEADERS_ENV",
    "PUBLIC_NAMES",
    "QUERY_ENV",
    "extra_headers",
    "extra_query",
    "parse_pairs",
    "secrets",
    "set_gateway",
    "shown_value",
]

HEADERS_ENV = "HF_VQA_HEADERS"
QUERY_ENV = "HF_VQA_QUERY"
# names whose values are public by nature: shown in commands, not redacted
PUBLIC_NAMES = frozenset({"http-referer", "referer", "x-title", "x-litellm-model", "model", "api-version",
                          "user-agent", "openai-beta", "anthropic-version", "x-stainless-lang"})  # fmt: skip
_RESERVED = frozenset({"authorization", "content-type", "content-length", "host"})


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """`["NAME=VALUE", ...]` as a dict; a malformed item raises `ConfigError` (its value is not echoed)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or any(c in name for c in " :\r\n\0") or any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{option} takes NAME=VALUE", received=f"{option} {name or '?'}=...",
                              fix=f"{option} 'HTTP-Referer=https://example.com'")  # fmt: skip
        if option == "--header" and name.lower() in _RESERVED:
            raise ConfigError(f"{option} cannot set {name}: hf_vqa sets it itself", received=name,
                              fix="pass the key with --api-key-env; drop this header")  # fmt: skip
        out[name] = value
    return out


def set_gateway(headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> None:
    """Send `headers` and `query` parameters with every request of this process (and its workers).

    Example:
        >>> set_gateway(headers={"HTTP-Referer": "https://me.example"})  # doctest: +SKIP
    """
    for env, value in ((HEADERS_ENV, headers), (QUERY_ENV, query)):
        if value:
            os.environ[env] = json.dumps({str(k): str(v) for k, v in value.items()})
        else:
            os.environ.pop(env, None)


def _read(env: str) -> dict[str, str]:
    text = os.environ.get(env)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"${env} is not a JSON object", received=f"{len(text)} characters (not shown)",
                          fix=f'export {env}=\'{{"NAME": "VALUE"}}\'') from None  # fmt: skip
    if not isinstance(value, dict):
        raise ConfigError(f"${env} is not a JSON object", fix=f'export {env}=\'{{"NAME": "VALUE"}}\'')
    return {str(k): str(v) for k, v in value.items()}


def extra_headers() -> dict[str, str]:
    """The extra headers for every request (`--header`, `$HF_VQA_HEADERS`)."""
    return _read(HEADERS_ENV)


def extra_query() -> dict[str, str]:
    """The extra query parameters for every request (`--query`, `$HF_VQA_QUERY`)."""
    return _read(QUERY_ENV)


def secrets() -> list[str]:
    """The header and query values to redact like the key (all but those of `PUBLIC_NAMES`)."""
    try:
        pairs = [*extra_headers().items(), *extra_query().items()]
    except ConfigError:
        return []
    return [v for k, v in pairs if k.lower() not in PUBLIC_NAMES and len(v) >= 6]


def shown_value(name: str, value: str) -> str:
    """`value` when the name is public by nature, else `<hidden>` (for commands in cards and hints)."""
    return value if name.lower() in PUBLIC_NAMES else "<hidden>"
