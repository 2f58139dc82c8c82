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

Example:
    >>> from hf_vqa.images.fetch import FetchSettings, fetch_bytes
    >>> data = fetch_bytes("https://example.com/cat.jpg", FetchSettings(timeout=5))  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import ipaddress
import math
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from hf_vqa.errors import ConfigError, ImageError

ALLOWED_SCHEMES = ("http", "https")
DEADLINE_FACTOR = 3.0
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


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


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True if `ip` (and any IPv4 address embedded in it) is a globally routable unicast address.

    Example:
        >>> import ipaddress
        >>> is_public_address(ipaddress.ip_address("8.8.8.8")), is_public_address(ipaddress.ip_address("::1"))
        (True, False)
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo:
            embedded = ip.teredo[1]
        if embedded is not None and not is_public_address(embedded):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_unspecified or ip.is_reserved)


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

    addresses = _resolve(ascii_host, port, settings.allow_private, shown, where)
    context = _ssl_context() if scheme == "https" else None
    conn = _PinnedConnection(addresses, settings.timeout, ascii_host if context else None, context)
    watchdog = _Watchdog(conn, deadline)
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
    conn: _PinnedConnection,
    resp: http.client.HTTPResponse,
    settings: FetchSettings,
    deadline: float,
    watchdog: _Watchdog,
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


def _resolve(host: str, port: int, allow_private: bool, shown: str, where: str) -> list[tuple]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ImageError(
            f"cannot resolve host {host!r}{where}: {getattr(exc, 'strerror', None) or exc}",
            source=shown,
            fix="check the host name and your network/DNS",
        ) from None
    addresses = []
    for family, _, _, _, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not allow_private and not is_public_address(ip):
            raise ImageError(
                f"host {host!r} resolves to non-public address {ip}{where}; private, loopback, "
                "link-local, reserved and multicast addresses are refused",
                source=shown,
                fix="only if you trust this host and network: --allow-private-urls in the CLI, "
                "VLM(allow_private_urls=True) in Python, FetchSettings(allow_private=True) for fetch_bytes",
            )
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    return addresses


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to pre-checked addresses only; the URL's host is used just for SNI and certificates."""

    def __init__(
        self, addresses: list[tuple], timeout: float, tls_host: str | None, context: ssl.SSLContext | None
    ) -> None:
        _, sockaddr = addresses[0]
        super().__init__(str(sockaddr[0]), int(sockaddr[1]), timeout=timeout)
        self._addresses = addresses
        self._tls_host = tls_host
        self._context = context
        self.fd: int | None = None  # for the watchdog
        self.live_sock: socket.socket | None = None  # http.client drops .sock once the response owns it

    def connect(self) -> None:
        last: OSError | None = None
        for family, sockaddr in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            self.fd = sock.fileno()
            try:
                sock.settimeout(self.timeout)
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._context is not None:
                    sock = self._context.wrap_socket(sock, server_hostname=self._tls_host)
            except OSError as exc:
                last = exc
                self.fd = None
                sock.close()
                continue
            self.sock = self.live_sock = sock
            return
        assert last is not None
        raise last


class _Watchdog:
    """Shuts the connection's socket down at the overall deadline, waking any blocked read."""

    def __init__(self, conn: _PinnedConnection, deadline: float) -> None:
        self.expired = False
        self._conn = conn
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            fd = self._conn.fd
            if fd is None:
                return
            try:
                sock = socket.socket(fileno=fd)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.detach()
            except OSError:
                pass

    def disarm(self) -> None:
        with self._lock:
            self._done = True
            self._timer.cancel()


_SSL_LOCK = threading.Lock()
_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = ssl.create_default_context()
        return _SSL_CONTEXT


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
