"""The network half of a safe fetch (`fetch.py`): resolve a host once and refuse non-public addresses,
connect to exactly the address that was checked (TLS to the URL's host name), and shut the socket
down at the overall deadline.

- `is_public_address`: globally routable unicast, including IPv4 embedded in IPv6 (mapped, 6to4,
  NAT64, Teredo);
- `resolve_public`: `getaddrinfo` once; every address must be public unless `allow_private`;
- `PinnedConnection`: `http.client` to those addresses only, so DNS rebinding between the check and
  the connect cannot move the request elsewhere;
- `Watchdog`: at the deadline, shuts the socket down, waking any blocked read (a server trickling bytes).

Example:
    >>> import ipaddress
    >>> is_public_address(ipaddress.ip_address("8.8.8.8")), is_public_address(ipaddress.ip_address("::ffff:10.0.0.1"))
    (True, False)
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time

from hf_vqa.errors import ImageError

__all__ = ["PinnedConnection", "Watchdog", "is_public_address", "resolve_public", "ssl_context"]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


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


def resolve_public(host: str, port: int, allow_private: bool, shown: str, where: str) -> list[tuple]:
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


class PinnedConnection(http.client.HTTPConnection):
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


class Watchdog:
    """Shuts the connection's socket down at the overall deadline, waking any blocked read."""

    def __init__(self, conn: PinnedConnection, deadline: float) -> None:
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


def ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = ssl.create_default_context()
        return _SSL_CONTEXT
