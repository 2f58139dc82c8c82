"""The transport (the only HTTP to the VLM) through the engine, against the real loopback server."""

import pickle
import subprocess
import sys

import pytest
from fixtures_vlm import chat_body, engine_for

from hf_vqa.config import VLM
from hf_vqa.engine import transport
from hf_vqa.engine.client import Engine
from hf_vqa.engine.http_client import proxy_for
from hf_vqa.engine.http_reply import TransportError


def test_requests_carry_the_sdks_headers_and_the_key(tmp_path, mock_vlm, monkeypatch):
    """The connection is configured as the SDK would: auth, organisation (from the environment), user agent."""
    monkeypatch.setenv("HFV_TEST_KEY", "sk-test-0123456789")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-hfvqa")
    engine = Engine(
        VLM(model="m", base_url=mock_vlm.base_url, api_key_env="HFV_TEST_KEY", cache_dir=str(tmp_path))
    )
    assert engine.submit("k", chat_body()).result(10).error is None
    headers = {k.lower(): v for k, v in mock_vlm.last_headers().items()}
    assert headers["authorization"] == "Bearer sk-test-0123456789"
    assert headers["openai-organization"] == "org-hfvqa"
    assert headers["user-agent"].startswith("AsyncOpenAI/Python")
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
def test_both_transports_send_retry_and_classify_errors(
    tmp_path, make_mock_vlm, free_tcp_port, monkeypatch, kind
):
    import hf_vqa.engine.transport as transport

    monkeypatch.setattr(transport, "kind", lambda: kind)
    server = make_mock_vlm(faults={"drop": 0.6}, seed=3)
    engine = engine_for(server, tmp_path, max_retries=20)
    replies = [f.result(60) for f in [engine.submit(f"k{i}", chat_body(str(i))) for i in range(10)]]
    drops = server.stats()["drop"]
    assert drops >= 3 and all(r.error is None for r in replies)  # every dropped connection was retried
    assert sum(r.attempts for r in replies) == 10 + drops
    down = Engine(VLM(model="m", base_url=f"http://127.0.0.1:{free_tcp_port}/v1", api_key_env="", max_retries=0,
                      cache_dir=str(tmp_path)))  # fmt: skip
    error = down.submit("never-sent-before", chat_body()).result(30).error
    assert "connection error" in error and "timed out" not in error  # refused is not a timeout


def test_proxies_come_from_the_environment_once(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://api.example.com/v1/chat/completions") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com")
    assert proxy_for("https://api.example.com/v1/chat/completions") == "http://proxy.local:3128"
    assert proxy_for("https://internal.example.com/v1/chat/completions") is None
    assert proxy_for("http://api.example.com/v1/chat/completions") is None  # no HTTP_PROXY


def test_httpx_can_be_forced(monkeypatch):
    transport.kind.cache_clear()
    try:
        monkeypatch.setenv("HF_VQA_HTTP", "httpx")
        assert transport.kind() == "httpx"
        monkeypatch.delenv("HF_VQA_HTTP")
        transport.kind.cache_clear()
        assert transport.kind() == "aiohttp"  # openai[aiohttp] is a dependency
    finally:
        transport.kind.cache_clear()


def test_transport_errors_survive_pickling():
    err = pickle.loads(pickle.dumps(TransportError("ServerDisconnectedError: gone", timeout=False)))
    assert str(err) == "ServerDisconnectedError: gone" and err.timeout is False


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
def test_a_slow_reply_is_a_timeout_on_both_transports(tmp_path, make_mock_vlm, monkeypatch, kind):
    monkeypatch.setattr(transport, "kind", lambda: kind)
    server = make_mock_vlm(faults={"timeout": 1.0}, slow_seconds=3.0)
    reply = engine_for(server, tmp_path, timeout=0.5, max_retries=0).submit("slow", chat_body()).result(30)
    assert reply.error is not None and "timed out after 0.5s" in reply.error


def test_the_sdk_is_imported_only_when_a_request_is_sent():
    # a run answered from the caches (a rerun, --force after a finished job) never pays the SDK's import
    code = "import sys, hf_vqa.pipeline, hf_vqa.cli.main; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
