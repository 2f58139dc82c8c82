"""Which HTTP client sends (aiohttp, or the SDK's httpx), and through which proxy: chosen, never used here.

`transport.py` alone sends; this module only answers its questions from the environment.

Example:
    >>> kind() in ("aiohttp", "httpx"), proxy_for("http://127.0.0.1:8000/v1/chat/completions") is None
    (True, True)
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

ENV = "HF_VQA_HTTP"  # "httpx" forces the SDK's httpx client (else aiohttp when installed)


@functools.cache
def kind() -> str:
    """``"aiohttp"`` when it can be used here, else ``"httpx"``.

    Example:
        >>> kind() in ("aiohttp", "httpx")
        True
    """
    if os.environ.get(ENV, "").strip().lower() == "httpx":
        return "httpx"
    try:
        import aiohttp  # noqa: F401  (openai[aiohttp])
    except ImportError:
        return "httpx"
    return "aiohttp"


@functools.cache
def httpx_module() -> Any:
    """The httpx package the installed SDK is built on: ``httpx2`` for openai>=3, else ``httpx`` (the
    ``HF_VQA_HTTP=httpx`` path only: it imports the SDK)."""
    import openai  # here, not at import time: `kind()` alone never loads the SDK

    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return importlib.import_module(base.__module__.split(".")[0])


def proxy_for(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, ``NO_PROXY``) names for
    `url`, as httpx would pick it, or None.

    Example:
        >>> proxy_for("http://127.0.0.1:8000/v1/chat/completions") is None  # without HTTP_PROXY set
        True
    """
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


__all__ = ["ENV", "httpx_module", "kind", "proxy_for"]
