"""Fetch image bytes over http(s) with the guards a data pipeline needs (stdlib only).

What `fetch_bytes` enforces, on the first request and on every redirect hop:

- only ``http`` and ``https`` URLs (``file://``, ``ftp://``, ``data:`` ... are refused);
- at most ``max_redirects`` redirects, and a redirect back to an already-visited URL is a loop;
- the host is resolved once with ``socket.getaddrinfo``; every address must be public (not
  loopback, private, link-local, CGNAT, reserved, multicast or unspecified, including such
  addresses embedded in IPv4-mapped, 6to4 and NAT64 IPv6 addresses) unless ``allow_private``;
- the connection goes to the exact address that was checked (the URL's host is only sent as the
  ``Host`` header and as TLS SNI / certificate hostname), so DNS rebinding between the check and
  the connect cannot redirect the request to another address;
- ``timeout`` bounds the connect and every read, and an overall deadline of 3 × ``timeout``
  bounds the whole fetch (a watchdog shuts the socket down, so a server trickling headers or body
  one byte at a time is cut off too);
- ``max_bytes`` is checked against ``Content-Length`` up front and against a running byte count
  while streaming.

Remaining caveats:

- name resolution itself is not covered by the deadline (``getaddrinfo`` has no timeout; the
  system resolver's own timeouts apply);
- ``HTTP(S)_PROXY`` environment variables are ignored: connections are always direct;
- credentials in the URL (``https://user:pass@host/``) are never sent, and error messages show
  the URL as ``scheme://host[:port]/path`` only (no userinfo, query or fragment);
- no content decoding: ``Accept-Encoding: identity`` is requested and the body is returned as sent.

The network half (the address check, the pinned connection, the deadline watchdog) is `fetch_socket.py`.

Example:
    >>> from hf_vqa.images.fetch import FetchSettings, fetch_bytes
    >>> data = fetch_bytes("https://example.com/cat.jpg", FetchSettings(timeout=5))  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import math
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from hf_vqa.errors import ConfigError, ImageError
from hf_vqa.images.fetch_socket import (
    PinnedConnection,
    Watchdog,
    is_public_address,
    resolve_public,
    ssl_context,
)

ALLOWED_SCHEMES = ("http", "https")
DEADLINE_FACTOR = 3.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchSettings:
    """Limits for `fetch_bytes`. Example: ``FetchSettings(timeout=5, allow_private=True)``."""

    timeout: float = 10.0
    max_bytes: int = 32 * 1024 * 1024
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = "hf_vqa/0.1 (+https://github.com/)"

    def __post_init__(self) -> None:
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
            raise ConfigError(
                "FetchSettings.timeout must be a number > 0", received=t, fix="pass timeout=10.0"
            )
        for name, low in (("max_bytes", 1), ("max_redirects", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"FetchSettings.{name} must be an integer >= {low}",
                    received=value,
                    fix=f"pass {name}={getattr(FetchSettings, name)}",
                )
        if not isinstance(self.allow_private, bool):
            raise ConfigError(
                "FetchSettings.allow_private must be True or False",
                received=self.allow_private,
                fix="pass allow_private=True only for hosts you trust",
            )
        ua = self.user_agent
        if not isinstance(ua, str) or not ua.strip() or any(c in ua for c in "\r\n\0"):
            raise ConfigError(
                "FetchSettings.user_agent must be a non-empty single-line string",
                received=ua,
                fix='pass user_agent="my-app/1.0"',
            )


def display_url(url: str) -> str:
    """`url` reduced to ``scheme://host[:port]/path`` (no userinfo, query or fragment) for messages.

    Example:
        >>> display_url("https://user:secret@example.com/a.jpg?sig=abc#x")
        'https://example.com/a.jpg'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    text = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else url.split("?")[0].split("#")[0]
    return text if len(text) <= 200 else text[:150] + "..." + text[-47:]


def fetch_bytes(url: str, settings: FetchSettings = FetchSettings()) -> bytes:
    """Download `url` (http/https only) and return the body, enforcing every `FetchSettings` limit.

    Raises `ImageError` (naming the URL without secrets) for a refused URL or address, a network
    error, a timeout, a non-2xx status, too many redirects or a body above ``max_bytes``.

    Example:
        >>> try:
        ...     fetch_bytes("file:///etc/passwd")
        ... except ImageError as err:
        ...     print(err.what)
        URL scheme 'file' is not allowed; only http and https are fetched
    """
    shown = display_url(url)
    deadline = time.monotonic() + settings.timeout * DEADLINE_FACTOR
    current, visited = url, {url}
    for hop in range(settings.max_redirects + 1):
        location = _fetch_once(current, settings, deadline, shown, hop)
        if isinstance(location, bytes):
            return location
        nxt = urljoin(current, location)
        if nxt in visited:
            raise ImageError(
                f"redirect loop: {display_url(current)} redirects back to {display_url(nxt)}",
                source=shown,
                fix="fix the URL on the server side or use the final URL directly",
            )
        visited.add(nxt)
        current = nxt
    raise ImageError(
        f"too many redirects (more than max_redirects={settings.max_redirects})",
        source=shown,
        fix="use the final URL directly or raise FetchSettings.max_redirects",
    )


def _fetch_once(url: str, settings: FetchSettings, deadline: float, shown: str, hop: int) -> bytes | str:
    """One request: the body (bytes) on 2xx, the Location header (str) on a redirect."""
    where = f" (redirect hop {hop} to {display_url(url)})" if hop else ""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise ImageError(f"invalid URL{where}: {exc}", source=shown, fix="check the URL") from None
    if scheme not in ALLOWED_SCHEMES:
        raise ImageError(
            f"URL scheme {scheme or '(none)'!r} is not allowed{where}; only http and https are fetched",
            source=shown,
            fix="use an http(s):// URL, or pass a local path or the image bytes instead",
        )
    if not host:
        raise ImageError(f"URL has no host{where}", source=shown, fix="use a full http(s)://host/path URL")
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise ImageError(f"invalid host name{where}", source=shown, fix="check the URL") from None
    port = port or (443 if scheme == "https" else 80)
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    host_header = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port != (443 if scheme == "https" else 80):
        host_header += f":{port}"

    addresses = resolve_public(ascii_host, port, settings.allow_private, shown, where)
    context = ssl_context() if scheme == "https" else None
    conn = PinnedConnection(addresses, settings.timeout, ascii_host if context else None, context)
    watchdog = Watchdog(conn, deadline)
    resp = None
    try:
        conn.request(
            "GET",
            target,
            headers={
                "Host": host_header,
                "User-Agent": settings.user_agent,
                "Accept": "image/*,*/*;q=0.5",
                "Accept-Encoding": "identity",
                "Connection": "close",
            },
        )
        resp = conn.getresponse()
        status = resp.status
        if status in _REDIRECT_STATUSES:
            location = resp.getheader("Location")
            if not location:
                raise ImageError(f"HTTP {status} redirect without a Location header{where}", source=shown)
            return location.strip()
        if not 200 <= status < 300:
            raise ImageError(
                f"HTTP {status} {resp.reason}{where}".rstrip(),
                source=shown,
                fix=_status_fix(status, bool(parts.username)),
            )
        return _read_body(conn, resp, settings, deadline, watchdog, shown)
    except ImageError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.expired or time.monotonic() >= deadline:
            raise _deadline_error(settings, shown) from None
        raise ImageError(
            f"download failed{where}: {_describe(exc, settings)}", source=shown, fix=_FIX_NET
        ) from None
    finally:
        watchdog.disarm()
        if resp is not None:
            resp.close()
        conn.close()


def _read_body(
    conn: PinnedConnection,
    resp: http.client.HTTPResponse,
    settings: FetchSettings,
    deadline: float,
    watchdog: Watchdog,
    shown: str,
) -> bytes:
    length = resp.getheader("Content-Length")
    if length and length.strip().isdigit() and int(length) > settings.max_bytes:
        raise _too_large(settings, shown, f"Content-Length is {int(length)} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or watchdog.expired:
            raise _deadline_error(settings, shown)
        conn.live_sock.settimeout(min(settings.timeout, remaining))
        chunk = resp.read1(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > settings.max_bytes:
            raise _too_large(settings, shown, f"more than {settings.max_bytes} bytes received")
        chunks.append(chunk)
    if watchdog.expired:
        raise _deadline_error(settings, shown)
    if resp.length:  # Content-Length promised more than arrived
        raise ImageError(
            f"connection closed after {total} of {total + resp.length} bytes", source=shown, fix=_FIX_NET
        )
    return b"".join(chunks)


_FIX_NET = "check the URL and your network, or download the image and pass a local path"


def _describe(exc: BaseException, settings: FetchSettings) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {settings.timeout:g} s without data"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed in the middle of the body"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection without a response"
    if isinstance(exc, http.client.HTTPException):
        return f"invalid HTTP response ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)


def _deadline_error(settings: FetchSettings, shown: str) -> ImageError:
    total = settings.timeout * DEADLINE_FACTOR
    return ImageError(
        f"download did not finish within the overall deadline of {total:g} s (3 × timeout)",
        source=shown,
        fix="the server is too slow; raise FetchSettings.timeout or download the image yourself",
    )


def _too_large(settings: FetchSettings, shown: str, detail: str) -> ImageError:
    return ImageError(
        f"response is larger than max_bytes={settings.max_bytes} ({detail})",
        source=shown,
        fix="raise FetchSettings.max_bytes if the image is genuine",
    )


def _status_fix(status: int, had_userinfo: bool) -> str:
    if status in (401, 403):
        extra = " (credentials in the URL are never sent)" if had_userinfo else ""
        return f"the image is not public{extra}; download it yourself and pass the bytes"
    if status == 404 or status == 410:
        return "check the URL; the image does not exist (any more)"
    if status == 429 or status >= 500:
        return "the server is overloaded or failing; retry later"
    return "check the URL"


__all__ = [
    "ALLOWED_SCHEMES",
    "DEADLINE_FACTOR",
    "FetchSettings",
    "display_url",
    "fetch_bytes",
    "is_public_address",
]
