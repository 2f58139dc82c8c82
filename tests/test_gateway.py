"""Gateways (`engine/gateway.py`, `engine/waits.py`): extra headers and query parameters on every request,
every retry header a gateway sends, and a 400 that is about the key."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fixtures_vlm import chat_body

from hf_vqa.cli.command import command_line
from hf_vqa.config import VLM
from hf_vqa.engine.client import Engine
from hf_vqa.engine.gateway import set_gateway
from hf_vqa.engine.waits import retry_after

OK = {"choices": [{"message": {"role": "assistant", "content": "Q: a? A: b"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 3, "completion_tokens": 4}}  # fmt: skip


class Gateway:
    """A loopback server that records each request and answers from a script of (status, headers, body)."""

    def __init__(self, script):
        self.script, self.seen = list(script), []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                gateway.seen.append(
                    (time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                status, headers, body = (
                    gateway.script.pop(0) if len(gateway.script) > 1 else gateway.script[0]
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {
                    **headers,
                    "Content-Type": "application/json",
                    "Content-Length": str(len(data)),
                }.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def gateway_env(monkeypatch):
    monkeypatch.delenv("HF_VQA_HEADERS", raising=False)
    monkeypatch.delenv("HF_VQA_QUERY", raising=False)
    yield
    set_gateway()


def _engine(gw, tmp_path, **kw):
    return Engine(VLM(model="m", base_url=gw.base_url, api_key_env="", cache_dir=str(tmp_path), **kw))


def test_headers_and_query_go_with_every_request_and_their_secrets_stay_out_of_errors(tmp_path, gateway_env):
    set_gateway(
        headers={"x-litellm-model": "gpt-4o", "api-key": "azure-secret-123"}, query={"model": "gpt-4o"}
    )
    gw = Gateway(
        [(500, {}, {"error": {"message": "upstream said: bad api-key azure-secret-123"}}), (200, {}, OK)]
    )
    try:
        engine = _engine(gw, tmp_path, max_retries=0)
        failed = engine.submit("k0", chat_body("a")).result(30)
        ok = engine.submit("k1", chat_body("b")).result(30)
    finally:
        gw.close()
    assert (
        ok.error is None
        and failed.error
        and "azure-secret-123" not in failed.error
        and "<redacted>" in failed.error
    )
    for _, path, headers in gw.seen:
        assert path == "/v1/chat/completions?model=gpt-4o"
        assert headers["x-litellm-model"] == "gpt-4o" and headers["api-key"] == "azure-secret-123"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"llm_provider-retry-after": "7"}, 7.0),  # LiteLLM's 429 carries only this
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "120"}, 1.0),
        ({"x-ratelimit-reset-tokens": "20ms", "x-ratelimit-remaining-tokens": "0"}, 0.02),
        ({"x-ratelimit-reset-requests": "1m30.5s"}, 90.5),
        ({"x-ratelimit-reset-requests": "6m0s"}, 120.0),  # capped
        ({"retry-after": "soon"}, None),
    ],
)  # fmt: skip
def test_every_retry_header_a_gateway_sends_is_honoured(headers, seconds):
    assert retry_after(headers) == (pytest.approx(seconds) if seconds is not None else None)


def test_a_litellm_429_waits_as_its_header_says(tmp_path, gateway_env):
    gw = Gateway(
        [(429, {"llm_provider-retry-after": "1"}, {"error": {"message": "rate limited"}}), (200, {}, OK)]
    )
    try:
        reply = _engine(gw, tmp_path).submit("k", chat_body()).result(30)
    finally:
        gw.close()
    assert reply.error is None and len(gw.seen) == 2
    assert gw.seen[1][0] - gw.seen[0][0] >= 0.9  # the 1 s it asked for (backoff alone would be ~0.5 s)


def test_a_400_about_the_key_gets_the_key_hint(tmp_path, gateway_env, monkeypatch):
    monkeypatch.setenv("HF_VQA_T_KEY", "sk-wrong-key-123")
    gw = Gateway([(400, {}, {"error": {"message": "Authentication Error, No connected db."}})])
    try:
        engine = Engine(
            VLM(model="m", base_url=gw.base_url, api_key_env="HF_VQA_T_KEY", cache_dir=str(tmp_path))
        )
        engine.submit("k", chat_body()).result(30)
    finally:
        gw.close()
    stopped = engine.guard.stopped or ""
    assert "No connected db" in stopped and "check the key in $HF_VQA_T_KEY" in stopped
    assert "change the request" not in stopped and len(gw.seen) == 1


def test_header_values_are_hidden_in_printed_commands_unless_public():
    line = command_line(["image-vqa", "--header", "api-key=sk-live-1", "--header", "HTTP-Referer=https://me.example",
                         "--query", "sig=abc123", "--query=api-version=2024-10-21"], argv0="hf-vqa")  # fmt: skip
    assert "sk-live-1" not in line and "abc123" not in line
    assert (
        "HTTP-Referer=https://me.example" in line
        and "api-version=2024-10-21" in line
        and "api-key=<hidden>" in line
    )
