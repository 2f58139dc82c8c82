"""A hostile world: replies that trickle, are huge, refuse, are streams or not UTF-8, odd usage, an
echoed key; each from a loopback mock mode (`hf_vqa.mock.hostile`) through the real engine.

Disk full, a damaged store, unencodable rows and two runs at once are in `test_hostile_cli.py`.
"""

from __future__ import annotations

import pytest
from fixtures_vlm import chat_body, engine_for

from hf_vqa.engine import transport


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
def test_a_trickling_reply_is_cut_at_the_deadline(tmp_path, make_mock_vlm, monkeypatch, kind):
    monkeypatch.setattr(transport, "kind", lambda: kind)
    server = make_mock_vlm(faults={"trickle": 1.0})  # ~300 bytes at 0.1 s a byte: ~30 s without a deadline
    engine = engine_for(server, tmp_path, timeout=1.0, max_retries=0)
    reply = engine.submit("trickle", chat_body()).result(20)
    assert reply.text is None and "timed out after 1s" in reply.error, reply.error
    assert server.stats()["trickle"] == 1


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
def test_a_reply_over_the_cap_fails_once_and_nothing_of_it_is_stored(
    tmp_path, make_mock_vlm, monkeypatch, kind
):
    monkeypatch.setattr(transport, "kind", lambda: kind)
    server = make_mock_vlm(faults={"huge": 1.0})  # 20 MB answers
    engine = engine_for(server, tmp_path, max_reply_bytes=1 << 20)
    reply = engine.submit("huge", chat_body()).result(30)
    assert reply.text is None and "larger than the cap" in reply.error and "max-reply-bytes" in reply.error
    assert reply.attempts == 1 and server.stats()["requests"] == 1
    assert len(engine.store) == 0


def test_a_small_reply_under_the_cap_is_answered(tmp_path, mock_vlm):
    reply = engine_for(mock_vlm, tmp_path, max_reply_bytes=4096).submit("ok", chat_body()).result(30)
    assert reply.text and reply.error is None


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("refusal", "refused by the model: I'm sorry, I can't help"),
        ("content_filter", "content filter"),
        ("no_choices", "no choices"),
        ("not_utf8", "not UTF-8"),
    ],
)
def test_replies_that_would_repeat_are_sent_once_and_keep_their_information(
    tmp_path, make_mock_vlm, kind, says
):
    server = make_mock_vlm(faults={kind: 1.0})
    engine = engine_for(server, tmp_path, max_retries=6)
    replies = [engine.submit(f"k{i}", chat_body(f"row {i}")).result(30) for i in range(5)]
    assert all(r.text is None and says in r.error and r.attempts == 1 for r in replies), replies[0]
    assert server.stats()["requests"] == 5  # before: 35 (7 attempts a row)


def test_a_stream_sent_unasked_is_read_once(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"sse": 1.0})
    reply = engine_for(server, tmp_path).submit("sse", chat_body()).result(30)
    assert reply.text and reply.error is None and reply.attempts == 1 and server.stats()["requests"] == 1


def test_odd_usage_values_keep_the_answer(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"odd_usage": 1.0})
    reply = engine_for(server, tmp_path).submit("odd", chat_body()).result(30)
    assert reply.text and reply.error is None
    assert (reply.prompt_tokens, reply.completion_tokens) == (0, 0)


def test_a_key_echoed_in_an_answer_is_redacted_before_it_is_stored(tmp_path, make_mock_vlm, monkeypatch):
    key = "sk-hostile-0123456789abcdef"
    monkeypatch.setenv("HOSTILE_KEY", key)
    server = make_mock_vlm(faults={"echo_key": 1.0}, api_key=key)
    from hf_vqa.config import VLM
    from hf_vqa.engine.client import Engine

    engine = Engine(
        VLM(model="m", base_url=server.base_url, api_key_env="HOSTILE_KEY", cache_dir=str(tmp_path))
    )
    reply = engine.submit("echo", chat_body()).result(30)
    assert reply.text and key not in reply.text and "Bearer <redacted>" in reply.text
    assert key not in engine.store.get("echo").text
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
