"""hf_vqa.images.fetch: schemes, redirects, address checks, timeouts, size limits, error messages."""

from __future__ import annotations

import ipaddress
import pickle
import socket
import time

import pytest

from hf_vqa.errors import ConfigError, ImageError
from hf_vqa.images import fetch
from hf_vqa.images.fetch import FetchSettings, display_url, fetch_bytes, is_public_address

FAST = FetchSettings(timeout=0.5, allow_private=True)


def test_fetches_image_bytes(image_http_server):
    assert fetch_bytes(image_http_server.url("/red.jpg"), FAST) == image_http_server.red_jpeg


def test_sends_host_user_agent_and_identity_encoding(image_http_server):
    fetch_bytes(image_http_server.url("/red.jpg?n=headers"), FAST)
    _, headers = next(r for r in image_http_server.requests if r[0] == "/red.jpg?n=headers")
    assert headers["Host"] == f"127.0.0.1:{image_http_server.port}"
    assert headers["User-Agent"] == FAST.user_agent
    assert headers["Accept-Encoding"] == "identity"


def test_private_address_refused_by_default(image_http_server):
    with pytest.raises(ImageError, match=r"non-public address 127\.0\.0\.1") as info:
        fetch_bytes(image_http_server.url("/red.jpg?n=default"))
    assert "allow_private=True" in str(info.value)
    assert not any(p == "/red.jpg?n=default" for p, _ in image_http_server.requests)


@pytest.mark.parametrize("host", ["localhost", "[::1]", "0.0.0.0", "169.254.169.254", "10.1.2.3"])
def test_private_hosts_refused_before_connecting(host, monkeypatch):
    monkeypatch.setattr(fetch, "PinnedConnection", None)  # would crash if a connection were attempted
    with pytest.raises(ImageError, match="non-public address"):
        fetch_bytes(f"http://{host}/x.jpg", FetchSettings(timeout=0.5))


def test_connects_to_the_checked_address_with_the_url_host(image_http_server, monkeypatch):
    calls = []
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        return real("127.0.0.1" if host == "images.example" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    url = f"http://images.example:{image_http_server.port}/red.jpg?n=pinned"
    assert fetch_bytes(url, FAST) == image_http_server.red_jpeg
    assert calls == ["images.example"]  # resolved once, then connected to that address
    _, headers = next(r for r in image_http_server.requests if r[0] == "/red.jpg?n=pinned")
    assert headers["Host"] == f"images.example:{image_http_server.port}"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "data:image/png;base64,AA", "gopher://x/"]
)
def test_non_http_schemes_refused(url):
    with pytest.raises(ImageError, match="only http and https"):
        fetch_bytes(url, FAST)


@pytest.mark.parametrize(("path", "scheme"), [("/redirect-file", "file"), ("/redirect-ftp", "ftp")])
def test_redirect_to_other_scheme_refused(image_http_server, path, scheme):
    with pytest.raises(ImageError, match=f"scheme '{scheme}' is not allowed.*redirect hop 1"):
        fetch_bytes(image_http_server.url(path), FAST)


def test_follows_relative_redirect(image_http_server):
    assert fetch_bytes(image_http_server.url("/redirect-image"), FAST) == image_http_server.red_jpeg


def test_redirect_loop_detected(image_http_server):
    with pytest.raises(ImageError, match="redirect loop"):
        fetch_bytes(image_http_server.url("/loop"), FAST)


def test_max_redirects_is_the_number_of_hops(image_http_server):
    settings = FetchSettings(timeout=0.5, allow_private=True, max_redirects=3)
    assert fetch_bytes(image_http_server.url("/chain/3"), settings) == image_http_server.red_jpeg
    with pytest.raises(ImageError, match="too many redirects"):
        fetch_bytes(image_http_server.url("/chain/4"), settings)
    with pytest.raises(ImageError, match="too many redirects"):
        fetch_bytes(image_http_server.url("/chain/1"), FetchSettings(allow_private=True, max_redirects=0))


def test_http_error_shows_status_and_url_without_secrets(image_http_server):
    port = image_http_server.port
    url = f"http://user:hunter2@127.0.0.1:{port}/missing.jpg?token=s3cret#frag"
    with pytest.raises(ImageError) as info:
        fetch_bytes(url, FAST)
    text = str(info.value)
    assert "HTTP 404" in text
    assert f"http://127.0.0.1:{port}/missing.jpg" in text
    assert "hunter2" not in text and "s3cret" not in text and "user" not in text
    assert str(pickle.loads(pickle.dumps(info.value))) == text


def test_server_that_never_answers_times_out(image_http_server):
    start = time.monotonic()
    with pytest.raises(ImageError, match=r"timed out after 0\.5 s"):
        fetch_bytes(image_http_server.url("/hang"), FAST)
    assert time.monotonic() - start < 1.5  # the read timeout, not the deadline


@pytest.mark.parametrize("path", ["/trickle", "/trickle-headers"])
def test_trickling_server_cut_off_at_overall_deadline(image_http_server, path):
    start = time.monotonic()
    with pytest.raises(ImageError, match=r"overall deadline of 1\.5 s"):
        fetch_bytes(image_http_server.url(path), FAST)
    assert 1.4 < time.monotonic() - start < 4.0


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_body_above_max_bytes_refused(image_http_server, path):
    settings = FetchSettings(timeout=0.5, allow_private=True, max_bytes=100_000)
    with pytest.raises(ImageError, match="larger than max_bytes=100000") as info:
        fetch_bytes(image_http_server.url(path), settings)
    if path == "/big":  # rejected from the header, before reading the body
        assert "Content-Length is 2097152" in str(info.value)
    assert len(fetch_bytes(image_http_server.url(path), FAST)) == 2 * 1024 * 1024


def test_short_body_reported(image_http_server):
    with pytest.raises(ImageError, match="closed after 10 of 1000 bytes"):
        fetch_bytes(image_http_server.url("/short"), FAST)


def test_https_to_plain_http_server_is_a_clear_tls_error(image_http_server):
    with pytest.raises(ImageError, match=r"download failed: .*SSL") as info:
        fetch_bytes(f"https://127.0.0.1:{image_http_server.port}/red.jpg", FAST)
    assert f"https://127.0.0.1:{image_http_server.port}/red.jpg" in str(info.value)


def test_connection_refused_is_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        with pytest.raises(ImageError, match="connection refused"):
            fetch_bytes(f"http://127.0.0.1:{port}/x.jpg", FAST)


def test_unresolvable_host():
    with pytest.raises(ImageError, match="cannot resolve host"):
        fetch_bytes("http://no-such-host.invalid/x.jpg", FAST)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2002:7f00:1::", False),
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_display_url_strips_userinfo_query_and_fragment():
    assert display_url("https://u:p@Example.com:8443/a/b.jpg?sig=x#y") == "https://example.com:8443/a/b.jpg"
    assert display_url("http://[::1]:80/x") == "http://[::1]:80/x"


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout", 0), ("timeout", float("inf")), ("max_bytes", 0), ("max_redirects", -1), ("allow_private", "yes"),
     ("user_agent", "a\r\nX-Injected: 1"), ("user_agent", "")],
)  # fmt: skip
def test_settings_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=f"FetchSettings.{field}"):
        FetchSettings(**{field: value})
