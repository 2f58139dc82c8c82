"""The endpoint's URL and headers, exactly as `openai.AsyncOpenAI` would give them, without importing it.

Importing the SDK costs ~0.5–1 s of CPU (its generated types), and it happened in the engine's thread
before the first request. Its only use on the aiohttp path was to configure the connection, so that is
done here, the same way: the base URL normalised with a trailing slash (httpx's URL rules), then
``Accept``, ``Content-Type``, ``User-Agent: AsyncOpenAI/Python <version>``, the ``X-Stainless-*``
platform headers, ``OpenAI-Organization``/``OpenAI-Project`` from ``OPENAI_ORG_ID``/``OPENAI_PROJECT_ID``,
the gateway's ``--header``s (`gateway.py`), and ``Authorization: Bearer <key>``. The SDK's version is
read with `importlib.metadata`. A test builds the same values with the SDK for a table of base URLs
and environments, so a drift in a new SDK release fails it (tests/test_connection.py).

A base URL that is not plain (a query, a fragment, ``%``-escapes, non-ASCII, dot segments, a default
port, upper case) is normalised by the SDK's own URL class (``httpx2``/``httpx``, without the SDK).

Example:
    >>> chat_url("http://127.0.0.1:8000/v1/", {})
    'http://127.0.0.1:8000/v1/chat/completions'
    >>> headers_for("sk-x", {}, env={}, in_task=True)["Authorization"]
    'Bearer sk-x'
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import platform
import re
import sys
from collections.abc import Mapping
from urllib.parse import urlencode

SDK = "openai"
# scheme://host[:port][/path]: lower case, no escapes, no query or fragment (else: the httpx URL class)
_PLAIN = re.compile(
    r"(https?)://([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(?::([1-9][0-9]{0,4}))?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")


def base_url(url: str) -> str:
    """`url` as the SDK keeps it: httpx-normalised, its path ending in ``/``.

    Example:
        >>> base_url("http://127.0.0.1:8000/v1"), base_url("http://host")
        ('http://127.0.0.1:8000/v1/', 'http://host')
    """
    plain = _PLAIN.fullmatch(url)
    if plain and plain.group(3) not in ("80", "443") and not _DOT_SEGMENT.search(plain.group(4) or ""):
        path = plain.group(4)
        return url if not path or path.endswith("/") else url + "/"  # no path: httpx's "/" is not shown
    parsed = _httpx().URL(url)
    path, sep, query = parsed.raw_path.partition(b"?")
    if not path.endswith(b"/"):
        parsed = parsed.copy_with(raw_path=path + b"/" + sep + query)
    return str(parsed)


def chat_url(url: str, query: Mapping[str, str]) -> str:
    """The ``/chat/completions`` URL under the base `url`, with the gateway's `query` parameters.

    Example:
        >>> chat_url("http://127.0.0.1:8000/v1", {"api-version": "1"})
        'http://127.0.0.1:8000/v1/chat/completions?api-version=1'
    """
    encoded = urlencode(dict(query))
    return base_url(url).rstrip("/") + "/chat/completions" + (f"?{encoded}" if encoded else "")


def headers_for(
    api_key: str,
    extra: Mapping[str, str],
    *,
    env: Mapping[str, str] | None = None,
    in_task: bool | None = None,
) -> dict[str, str]:
    """The headers `AsyncOpenAI(api_key=..., default_headers=extra)` sends, in its order, with
    ``Content-Type`` last. `env` (default `os.environ`) gives the organisation and project; `in_task`
    (default: asked now) says whether an asyncio task is running (the SDK then sends ``async:asyncio``).

    Example:
        >>> sorted(headers_for("k", {"X-Title": "t"}, env={"OPENAI_PROJECT_ID": "p"}, in_task=False))[:3]
        ['Accept', 'Authorization', 'Content-Type']
    """
    env = os.environ if env is None else env
    in_task = _in_task() if in_task is None else in_task
    version = sdk_version()
    custom = dict(extra)
    omit = object()  # the SDK's `Omit`: a header it leaves out
    org, project = env.get("OPENAI_ORG_ID"), env.get("OPENAI_PROJECT_ID")
    headers: dict[str, object] = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"AsyncOpenAI/Python {version}",
        **platform_headers(version),
        **custom,
        "X-Stainless-Async": "async:asyncio" if in_task else "async:false",
        "OpenAI-Organization": org if org is not None else omit,
        "OpenAI-Project": project if project is not None else omit,
        **custom,
    }
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    headers = {**headers, **auth, "Content-Type": "application/json"}
    return {k: v for k, v in headers.items() if isinstance(v, str)}


def _in_task() -> bool:
    import asyncio

    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no running loop
        return False


@functools.cache
def sdk_version() -> str:
    """The installed `openai` package's version (its metadata; the SDK is not imported).

    Example:
        >>> sdk_version()[0].isdigit()
        True
    """
    return importlib.metadata.version(SDK)


@functools.cache
def platform_headers(version: str) -> dict[str, str]:
    """The SDK's ``X-Stainless-*`` headers: language, version, OS, architecture, runtime."""
    return {
        "X-Stainless-Lang": "python",
        "X-Stainless-Package-Version": version,
        "X-Stainless-OS": _os_name(),
        "X-Stainless-Arch": _architecture(),
        "X-Stainless-Runtime": _safe(platform.python_implementation),
        "X-Stainless-Runtime-Version": _safe(platform.python_version),
    }


def _safe(read) -> str:
    try:
        return read()
    except Exception:
        return "unknown"


def _os_name() -> str:
    try:
        system, name = platform.system().lower(), platform.platform().lower()
    except Exception:
        return "Unknown"
    if "iphone" in name or "ipad" in name:
        return "iOS"
    named = {"darwin": "MacOS", "windows": "Windows"}
    if system in named:
        return named[system]
    if "android" in name:
        return "Android"
    if system in ("freebsd", "openbsd"):
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}[system]
    if system == "linux":
        try:
            distro = platform.freedesktop_os_release().get("ID", "").lower()
        except OSError:
            distro = ""
        return {"freebsd": "FreeBSD", "openbsd": "OpenBSD"}.get(distro, "Linux")
    return f"Other:{name}" if name else "Unknown"


def _architecture() -> str:
    try:
        machine = platform.machine().lower()
    except Exception:
        return "unknown"
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine in ("arm", "x86_64"):
        return {"arm": "arm", "x86_64": "x64"}[machine]
    if sys.maxsize <= 2**32:
        return "x32"
    return f"other:{machine}" if machine else "unknown"


@functools.cache
def _httpx():
    """The httpx package the installed SDK is built on (``httpx2`` when it requires it), not the SDK."""
    requires = importlib.metadata.requires(SDK) or []
    uses_httpx2 = any(re.match(r"httpx2\b", r) for r in requires)
    return importlib.import_module("httpx2" if uses_httpx2 else "httpx")


__all__ = ["SDK", "base_url", "chat_url", "headers_for", "platform_headers", "sdk_version"]
