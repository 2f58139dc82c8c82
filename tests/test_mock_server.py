"""Real-HTTP tests of the loopback mock VLM, through the `openai` SDK and raw `http.client`."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import random
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import openai
import pytest
from PIL import Image

from hf_vqa.errors import ConfigError, install_command
from hf_vqa.mock import images as mock_images
from hf_vqa.mock.images import ImageMemo, ImageRejected
from hf_vqa.mock.requests import _wrap_long, load_schema, loads_request, request_validator
from hf_vqa.mock.schema_check import Unsupported, compile_checker
from hf_vqa.mock.server import FAULT_KINDS, MockVLM, Settings, image_tag, parse_tags, start_subprocess

RESPONSE_VALIDATOR = jsonschema.Draft202012Validator(load_schema("response"))


# -- helpers ---------------------------------------------------------------------------------------
def image_bytes(size: tuple[int, int], color: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def data_url(size=(32, 24), color=(10, 200, 30), fmt="PNG", mime: str | None = None) -> str:
    mime = mime or f"image/{fmt.lower()}"
    return f"data:{mime};base64," + base64.b64encode(image_bytes(size, color, fmt)).decode()


def user(text: str, *urls: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": parts}]


def client(vlm: MockVLM, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=vlm.base_url, api_key="test", max_retries=0, **kwargs)


def raw(
    vlm: MockVLM, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; returns (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", vlm.port, timeout=10)
    try:
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(
            method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def chat_body(text: str = "Make QA pairs.", *urls: str, **extra: Any) -> dict[str, Any]:
    return {"model": "my-vlm", "messages": user(text, *urls), **extra}


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


# -- happy path ------------------------------------------------------------------------------------
def test_valid_request_answered_and_matches_response_schema(mock_vlm: MockVLM) -> None:
    text = "Describe this picture as QA pairs."
    status, headers, body = raw(mock_vlm, "POST", "/v1/chat/completions", chat_body(text, data_url()))
    assert status == 200
    assert headers["content-type"] == "application/json"
    response = json.loads(body)
    RESPONSE_VALIDATOR.validate(response)
    assert response["id"].startswith("chatcmpl-")
    assert response["object"] == "chat.completion"
    assert response["model"] == "my-vlm"
    assert abs(response["created"] - time.time()) < 60
    (choice,) = response["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert choice["message"]["role"] == "assistant" and choice["message"]["refusal"] is None
    content = choice["message"]["content"]
    assert response["usage"] == {
        "prompt_tokens": len(text.split()) + 85,
        "completion_tokens": len(content.split()),
        "total_tokens": len(text.split()) + 85 + len(content.split()),
    }
    stats = mock_vlm.stats()
    assert (stats["requests"], stats["ok"], stats["images_decoded"], stats["invalid"]) == (1, 1, 1, 0)


def test_vqa_answer_has_the_exact_documented_format(mock_vlm: MockVLM) -> None:
    texts = ["Write ", "three QA pairs."]
    messages = [{"role": "system", "content": "You are a VQA writer."}]
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": texts[0]},
                {"type": "image_url", "image_url": {"url": data_url((64, 48), (12, 200, 33))}},
                {"type": "text", "text": texts[1]},
                {"type": "image_url", "image_url": {"url": data_url((20, 40), (200, 0, 0))}},
            ],
        }
    )
    result = client(mock_vlm).chat.completions.create(model="m", messages=messages)
    prompt = "prompt-" + hashlib.sha1("".join(texts).encode()).hexdigest()[:8]
    assert result.choices[0].message.content == (
        "Q1: What are the dimensions and colour of image 1?\n"
        "A1: 64x48 rgb(12,200,33)\n"
        "Q2: Is image 1 wider than it is tall?\n"
        "A2: yes\n"
        "Q3: What are the dimensions and colour of image 2?\n"
        "A3: 20x40 rgb(200,0,0)\n"
        "Q4: Is image 2 wider than it is tall?\n"
        "A4: no\n"
        "Q5: Which prompt was I given?\n"
        f"A5: {prompt}"
    )
    assert result.usage.prompt_tokens == 9 + 2 * 85  # "You are a VQA writer." + "Write three QA pairs."


def test_each_answer_comes_from_its_own_image(mock_vlm: MockVLM) -> None:
    rows = [
        ((32, 24), (250, 10, 10), "PNG"),
        ((24, 32), (10, 250, 10), "JPEG"),
        ((40, 8), (10, 10, 250), "JPEG"),
    ]
    api = client(mock_vlm)
    for size, color, fmt in rows:
        result = api.chat.completions.create(
            model="m", messages=user("QA please", data_url(size, color, fmt))
        )
        ((w, h, rgb),) = parse_tags(result.choices[0].message.content)
        assert (w, h) == size
        assert close(rgb, color), (rgb, color)
        assert ("A2: yes" in result.choices[0].message.content) == (size[0] > size[1])
    assert mock_vlm.stats()["images_decoded"] == 3


def test_image_tag_and_parse_tags_round_trip() -> None:
    img = Image.new("RGB", (7, 5), (1, 2, 3))
    assert image_tag(img) == "7x5 rgb(1,2,3)"
    assert image_tag(Image.new("L", (2, 2), 100)) == "2x2 rgb(100,100,100)"
    text = "first 7x5 rgb(1,2,3) then 10x20 rgb(4, 5, 6) and noise 3x rgb(1,2,3)"
    assert parse_tags(text) == [(7, 5, (1, 2, 3)), (10, 20, (4, 5, 6))]
    assert parse_tags("no tags here") == []


# -- rejected requests -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "m"}, "'messages' is a required property"),
        ({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}, "messages/0"),
        (chat_body("x") | {"temperature": 5}, "temperature"),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
            },
            "url",
        ),
    ],
)
def test_schema_invalid_request_is_400_and_counted(mock_vlm: MockVLM, body: dict, needle: str) -> None:
    status, _, payload = raw(mock_vlm, "POST", "/v1/chat/completions", body)
    assert status == 400
    error = json.loads(payload)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] is None and error["code"] is None
    assert "schema" in error["message"] and needle in error["message"]
    assert mock_vlm.stats()["invalid"] == 1 and mock_vlm.stats()["ok"] == 0


def test_bad_json_is_400(mock_vlm: MockVLM) -> None:
    status, _, payload = raw(mock_vlm, "POST", "/v1/chat/completions", b'{"model": "m", "messages": [')
    assert status == 400
    assert "not valid JSON" in json.loads(payload)["error"]["message"]
    assert mock_vlm.stats()["invalid"] == 1


def test_http_image_url_is_refused(mock_vlm: MockVLM) -> None:
    with pytest.raises(openai.BadRequestError, match="does not fetch URLs"):
        client(mock_vlm).chat.completions.create(model="m", messages=user("hi", "http://example.com/cat.png"))
    assert mock_vlm.stats()["invalid"] == 1 and mock_vlm.stats()["images_decoded"] == 0


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        (data_url(fmt="JPEG", mime="image/png"), "says image/png but the bytes are JPEG"),
        (data_url(fmt="PNG", mime="image/jpeg"), "says image/jpeg but the bytes are PNG"),
        ("data:image/png;base64," + base64.b64encode(b"not an image").decode(), "not a readable image"),
        ("data:image/png;base64,@@@@", "not valid base64"),
        ("data:text/plain;base64,aGk=", "data:image/<type>;base64"),
        (data_url(fmt="BMP", mime="image/bmp"), "not BMP"),
    ],
)
def test_bad_image_data_is_400(mock_vlm: MockVLM, url: str, needle: str) -> None:
    with pytest.raises(openai.BadRequestError, match=re.escape(needle)):
        client(mock_vlm).chat.completions.create(model="m", messages=user("hi", url))
    assert mock_vlm.stats()["invalid"] == 1


def test_openai_formats_and_jpg_alias_are_accepted(mock_vlm: MockVLM) -> None:
    urls = [data_url(fmt="JPEG", mime="image/jpg"), data_url(fmt="WEBP"), data_url(fmt="GIF")]
    result = client(mock_vlm).chat.completions.create(model="m", messages=user("hi", *urls))
    tags = parse_tags(result.choices[0].message.content)
    assert len(tags) == 3 and all(t[:2] == (32, 24) and close(t[2], (10, 200, 30), 8) for t in tags), tags


def test_stream_is_served_as_events_the_sdk_reads(mock_vlm: MockVLM) -> None:
    """OpenAI streams chat completions as server-sent events ending in ``data: [DONE]``, with usage
    in a last chunk when ``stream_options.include_usage`` is set
    (https://platform.openai.com/docs/api-reference/chat-streaming)."""
    stream = client(mock_vlm).chat.completions.create(
        model="m", messages=user("hi"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = client(mock_vlm).chat.completions.create(model="m", messages=user("hi"))
    assert text == plain.choices[0].message.content and chunks[-1].usage.completion_tokens > 0


def test_api_key_is_enforced(make_mock_vlm) -> None:
    vlm = make_mock_vlm(api_key="sekrit")
    with pytest.raises(openai.AuthenticationError):
        client(vlm).chat.completions.create(model="m", messages=user("hi"))
    good = openai.OpenAI(base_url=vlm.base_url, api_key="sekrit", max_retries=0)
    assert good.chat.completions.create(model="m", messages=user("hi")).choices[0].message.content
    assert (vlm.stats()["unauthorized"], vlm.stats()["ok"]) == (1, 1)


# -- ContextVQA, JSON mode, truncation -------------------------------------------------------------
def split_context(content: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(layout, article, pairs) for the three ContextVQA layouts."""
    if content.startswith("## Wikipedia Article"):
        article = content.split("## Wikipedia Article", 1)[1].split("## Question-Answer Pairs")[0]
        pairs = re.findall(r"^\d+\. \*\*Question:\*\* (.+?) \*\*Answer:\*\* (.+)$", content, re.M)
        return "markdown", article.strip(), pairs
    if content.startswith("**Wikipedia Article:**"):
        article = content.split("**Wikipedia Article:**", 1)[1].split("\nQ1:")[0]
        return "bold", article.strip(), re.findall(r"^Q\d+: (.+)\nA\d+: (.+)$", content, re.M)
    assert content.startswith("Article: "), content[:80]
    article = content[len("Article: ") :].split("\n\n")[0]
    return "plain", article, re.findall(r"^Question: (.+)\nAnswer: (.+)$", content, re.M)


def assert_answers_from(article: str, answers: list[str]) -> None:
    """Every answer is a span of the article, except one "A, B" list whose two items both are."""
    lists = [a for a in answers if a not in article]
    assert len(lists) == 1, (lists, article)
    items = lists[0].split(", ")
    assert len(items) == 2 and all(item in article for item in items), (items, article)


def test_context_vqa_mode_article_and_span_answers(mock_vlm: MockVLM) -> None:
    api = client(mock_vlm)
    seen = set()
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (120, 120, 0)]
    for i in range(12):
        color = colors[i % 4]
        text = f"Write a Wikipedia-style article about the picture, then QA pairs. Variant {i}."
        result = api.chat.completions.create(model="m", messages=user(text, data_url((48, 32), color)))
        layout, article, pairs = split_context(result.choices[0].message.content)
        seen.add(layout)
        tags = parse_tags(article)
        assert len(tags) == 1 and tags[0][:2] == (48, 32) and close(tags[0][2], color)
        assert len(pairs) >= 4
        assert_answers_from(article, [answer for _, answer in pairs])
    assert seen == {"markdown", "bold", "plain"}


def test_json_mode_vqa_and_context(mock_vlm: MockVLM) -> None:
    api = client(mock_vlm)
    vqa = api.chat.completions.create(
        model="m", messages=user("QA", data_url()), response_format={"type": "json_object"}
    )
    qas = json.loads(vqa.choices[0].message.content)["qas"]
    assert qas[0] == {
        "question": "What are the dimensions and colour of image 1?",
        "answer": "32x24 rgb(10,200,30)",
    }
    assert len(qas) == 3
    schema_format = {"type": "json_schema", "json_schema": {"name": "ctx", "schema": {"type": "object"}}}
    ctx = api.chat.completions.create(
        model="m", messages=user("wikipedia article + QA", data_url()), response_format=schema_format
    )
    parsed = json.loads(ctx.choices[0].message.content)
    assert set(parsed) == {"context", "qas"}
    assert parse_tags(parsed["context"]) == [(32, 24, (10, 200, 30))]
    assert_answers_from(parsed["context"], [qa["answer"] for qa in parsed["qas"]])


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_truncation_sets_finish_reason_length(mock_vlm: MockVLM, field: str) -> None:
    api = client(mock_vlm)
    cut = api.chat.completions.create(model="m", messages=user("QA", data_url()), **{field: 5})
    full = api.chat.completions.create(model="m", messages=user("QA", data_url()), **{field: 500})
    assert cut.choices[0].finish_reason == "length" and full.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content.split() == full.choices[0].message.content.split()[:5]
    assert cut.usage.completion_tokens == 5


def test_n_choices(mock_vlm: MockVLM) -> None:
    result = client(mock_vlm).chat.completions.create(model="m", messages=user("QA"), n=3)
    assert [c.index for c in result.choices] == [0, 1, 2]
    assert len({c.message.content for c in result.choices}) == 1


# -- faults -----------------------------------------------------------------------------------------
FAULT_ERRORS = {
    "429": openai.RateLimitError,
    "500": openai.InternalServerError,
    "503": openai.InternalServerError,
    "drop": openai.APIConnectionError,
    "timeout": openai.APITimeoutError,
    "malformed": json.JSONDecodeError,
}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_at_rate_one(make_mock_vlm, kind: str) -> None:
    vlm = make_mock_vlm(faults={kind: 1.0}, slow_seconds=5.0, retry_after=1.5)
    api = client(vlm, timeout=0.5)
    if kind == "empty":
        result = api.chat.completions.create(model="m", messages=user("QA", data_url()))
        assert result.choices[0].message.content == "" and result.usage.completion_tokens == 0
    else:
        with pytest.raises(FAULT_ERRORS[kind]) as info:
            api.chat.completions.create(model="m", messages=user("QA", data_url()))
        if kind in ("429", "500", "503"):
            assert info.value.status_code == int(kind)
            assert info.value.body["type"] in ("requests", "server_error")
        if kind == "429":
            assert info.value.response.headers["retry-after"] == "2"
            assert info.value.response.headers["retry-after-ms"] == "1500"
    stats = vlm.stats()
    assert stats[kind] == 1 and stats["ok"] == 0 and stats["requests"] == 1
    assert stats["images_decoded"] == 1


def test_drop_and_malformed_over_raw_http(make_mock_vlm) -> None:
    vlm = make_mock_vlm(faults={"drop": 1.0})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        raw(vlm, "POST", "/v1/chat/completions", chat_body())
    vlm.configure(faults={"malformed": 1.0})
    status, headers, body = raw(vlm, "POST", "/v1/chat/completions", chat_body())
    assert status == 200 and int(headers["content-length"]) == len(body) > 20
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert body.startswith(b'{"id": "chatcmpl-')


def test_fault_rate_spreads_over_all_kinds(make_mock_vlm) -> None:
    assert Settings(fault_rate=0.7).table() == pytest.approx(dict.fromkeys(FAULT_KINDS, 0.1))
    assert Settings(faults={"500": 0.2}, fault_rate=0.7).table()["500"] == pytest.approx(0.3)
    vlm = make_mock_vlm(fault_rate=0.7, slow_seconds=0.0, seed=3)
    statuses = []
    for _ in range(120):
        try:
            statuses.append(raw(vlm, "POST", "/v1/chat/completions", chat_body())[0])
        except (http.client.RemoteDisconnected, ConnectionResetError):
            statuses.append("drop")
    stats = vlm.stats()
    assert all(stats[k] > 0 for k in FAULT_KINDS), stats
    assert sum(stats[k] for k in ("ok", *FAULT_KINDS)) == 120
    assert 20 <= stats["ok"] <= 55  # expected 36
    assert statuses.count(429) == stats["429"] and statuses.count("drop") == stats["drop"]


def test_fault_draws_are_reproducible_with_a_seed(make_mock_vlm) -> None:
    def run(vlm: MockVLM) -> list[int]:
        return [raw(vlm, "POST", "/v1/chat/completions", chat_body())[0] for _ in range(30)]

    first, second = make_mock_vlm(faults={"500": 0.5}, seed=7), make_mock_vlm(faults={"500": 0.5}, seed=7)
    statuses = run(first)
    assert statuses == run(second) and set(statuses) == {200, 500}
    first.reset()
    assert run(first) == statuses


def test_timeout_fault_holds_without_blocking_and_stop_is_prompt(make_mock_vlm) -> None:
    vlm = make_mock_vlm(faults={"timeout": 1.0}, slow_seconds=30.0)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(lambda: raw(vlm, "POST", "/v1/chat/completions", chat_body()))
        deadline = time.monotonic() + 5
        while vlm.stats()["in_flight"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        vlm.configure(faults={})
        started = time.monotonic()
        assert raw(vlm, "POST", "/v1/chat/completions", chat_body())[0] == 200
        assert time.monotonic() - started < 1.0
        assert vlm.stats()["timeout"] == 1 and vlm.stats()["in_flight"] == 1
        started = time.monotonic()
        vlm.stop()
        assert time.monotonic() - started < 2.0
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            held.result(timeout=5)


def test_max_concurrent_answers_429_with_retry_after(make_mock_vlm) -> None:
    vlm = make_mock_vlm(max_concurrent=2, latency=0.6, retry_after=0.3)
    with ThreadPoolExecutor(4) as pool:
        futures = []
        for _ in range(4):
            futures.append(pool.submit(raw, vlm, "POST", "/v1/chat/completions", chat_body()))
            time.sleep(0.05)
        results = [f.result() for f in futures]
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 429, 429]
    rejected = [headers for status, headers, _ in results if status == 429]
    assert all(h["retry-after"] == "1" and h["retry-after-ms"] == "300" for h in rejected)
    stats = vlm.stats()
    assert (stats["concurrency_429"], stats["ok"], stats["max_in_flight"]) == (2, 2, 2)


def test_latency_is_concurrent_and_jittered(make_mock_vlm) -> None:
    vlm = make_mock_vlm(latency=0.3, jitter=0.1)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        durations = list(pool.map(lambda _: timed(vlm), range(8)))
    assert time.monotonic() - started < 1.2  # 8 x 0.3 s would take 2.4 s if serialised
    assert all(0.18 <= d < 1.0 for d in durations), durations
    assert max(durations) - min(durations) > 0.04  # seeded jitter draws spread ~0.15 s
    assert vlm.stats()["max_in_flight"] >= 6


def timed(vlm: MockVLM) -> float:
    started = time.monotonic()
    assert raw(vlm, "POST", "/v1/chat/completions", chat_body())[0] == 200
    return time.monotonic() - started


# -- stats, control endpoints, keep-alive ----------------------------------------------------------
def test_duplicates_are_counted_per_canonical_request(mock_vlm: MockVLM) -> None:
    body = chat_body("same", data_url())
    for _ in range(3):
        assert raw(mock_vlm, "POST", "/v1/chat/completions", body)[0] == 200
    reordered = json.dumps(dict(reversed(list(body.items())))).encode()  # same request, other key order
    assert raw(mock_vlm, "POST", "/v1/chat/completions", reordered)[0] == 200
    assert raw(mock_vlm, "POST", "/v1/chat/completions", chat_body("other", data_url()))[0] == 200
    mock_vlm.configure(faults={"500": 1.0})
    assert raw(mock_vlm, "POST", "/v1/chat/completions", body)[0] == 500
    stats = mock_vlm.stats()
    assert (stats["duplicates"], stats["unique_ok"], stats["ok"], stats["500"]) == (3, 2, 5, 1)


def test_stats_reset_config_and_models_over_http(mock_vlm_session: MockVLM) -> None:
    vlm = mock_vlm_session
    assert vlm.stats()["requests"] == 0 and vlm.settings == Settings()
    raw(vlm, "POST", "/v1/chat/completions", chat_body())
    status, _, body = raw(vlm, "GET", "/_stats")
    assert status == 200 and json.loads(body) == vlm.stats() and json.loads(body)["ok"] == 1
    status, _, body = raw(vlm, "POST", "/_config", {"latency": 0.01, "faults": {"503": 1.0}})
    assert status == 200 and json.loads(body)["faults"] == {"503": 1.0}
    assert vlm.settings.latency == 0.01
    assert raw(vlm, "POST", "/chat/completions", chat_body())[0] == 503
    status, _, body = raw(vlm, "POST", "/_config", {"faults": {"bogus": 1.0}})
    assert status == 400 and "unknown fault kind" in json.loads(body)["error"]["message"]
    status, _, body = raw(vlm, "POST", "/_reset")
    assert status == 200 and json.loads(body)["requests"] == 0 and vlm.stats()["503"] == 0
    status, _, body = raw(vlm, "GET", "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "mock-vlm"
    assert client(vlm).models.list().data[0].id == "mock-vlm"
    assert raw(vlm, "GET", "/nope")[0] == 404
    assert raw(vlm, "GET", "/v1/chat/completions")[0] == 405


def test_session_server_starts_clean(mock_vlm_session: MockVLM) -> None:
    assert mock_vlm_session.stats()["requests"] == 0 and mock_vlm_session.settings == Settings()
    mock_vlm_session.configure(faults={"500": 1.0})
    assert raw(mock_vlm_session, "POST", "/v1/chat/completions", chat_body())[0] == 500


def test_keep_alive_reuses_one_connection(mock_vlm: MockVLM) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", mock_vlm.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body()))
    first = conn.getresponse()
    assert first.status == 200 and first.getheader("connection") == "keep-alive"
    first.read()
    sock = conn.sock
    conn.request(
        "POST", "/v1/chat/completions", body=json.dumps(chat_body()), headers={"Connection": "close"}
    )
    assert conn.sock is sock  # no reconnect: the server kept the connection open
    second = conn.getresponse()
    assert second.status == 200 and second.getheader("connection") == "close"
    second.read()
    conn.close()
    payload = json.dumps(chat_body()).encode()
    with socket.create_connection(("127.0.0.1", mock_vlm.port), timeout=5) as plain:  # HTTP/1.0: closes
        plain.sendall(
            b"POST /v1/chat/completions HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        received = b""
        while chunk := plain.recv(65536):  # ends only if the server closes the connection
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close" in received
    assert mock_vlm.stats()["ok"] == 3


# -- request path: image memo, compiled schema check, body parsing ---------------------------------
def noise_data_url(size: tuple[int, int] = (64, 48)) -> str:
    """A PNG of random pixels (unique to this call), as a data URL of ~12 KB."""
    img = Image.frombytes("RGB", size, random.randbytes(size[0] * size[1] * 3))
    return "data:image/png;base64," + base64.b64encode(image_bytes_of(img)).decode()


def image_bytes_of(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def test_same_image_is_decoded_once_and_bad_image_rejected_every_time(
    mock_vlm: MockVLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    analyze = mock_images.analyze_data_url
    monkeypatch.setattr(mock_images, "analyze_data_url", lambda url: decoded.append(url) or analyze(url))
    url = noise_data_url()
    expected = image_tag(Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))))
    api = client(mock_vlm)
    for i in range(3):
        result = api.chat.completions.create(model="m", messages=user(f"row {i}", url))
        assert expected in result.choices[0].message.content
    assert decoded == [url]  # decoded once; every request still counts its image
    assert mock_vlm.stats()["images_decoded"] == 3 and mock_vlm.stats()["ok"] == 3
    corrupt = "data:image/png;base64," + base64.b64encode(b"not an image" + random.randbytes(2000)).decode()
    messages = []
    for _ in range(2):
        with pytest.raises(openai.BadRequestError, match="not a readable image") as info:
            api.chat.completions.create(model="m", messages=user("hi", corrupt))
        messages.append(info.value.body)
    assert messages[0] == messages[1] and decoded == [url, corrupt]
    assert mock_vlm.stats()["invalid"] == 2
    same_bytes_other_url = url.replace("data:image/png", "data:image/x-png")
    assert api.chat.completions.create(model="m", messages=user("alias", same_bytes_other_url))
    assert decoded == [url, corrupt, same_bytes_other_url]  # the memo key is the exact URL string


def test_image_memo_is_a_bounded_lru() -> None:
    urls = [data_url((8 + i, 8), (10 * i, 0, 0)) for i in range(4)]
    memo = ImageMemo(max_entries=2)
    infos = [memo(u) for u in urls]
    assert [i.tag for i in infos] == [mock_images.analyze_data_url(u).tag for u in urls]
    assert memo.info() == {"hits": 0, "misses": 4, "entries": 2, "chars": len(urls[2]) + len(urls[3])}
    assert memo(urls[3]) is infos[3] and memo(urls[2]) is infos[2]  # hits: the two most recent
    memo(urls[0])  # evicted before: decoded again, and now evicts urls[3] (least recently used)
    assert memo.info()["misses"] == 5 and memo.info()["entries"] == 2
    memo(urls[3])
    assert memo.info()["misses"] == 6
    by_size = ImageMemo(max_entries=100, max_chars=len(urls[0]) + len(urls[1]) - 1)
    for u in urls[:2]:
        by_size(u)
    assert by_size.info()["entries"] == 1 and by_size.info()["chars"] <= by_size.max_chars
    tiny = ImageMemo(max_chars=30)
    assert tiny(urls[0]).tag == infos[0].tag and tiny.info()["entries"] == 0  # too long to keep
    for _ in range(2):  # a rejection is kept and raised again
        with pytest.raises(ImageRejected, match="not valid base64"):
            tiny("data:image/png;base64,@@@@")
    assert tiny.info() == {"hits": 1, "misses": 2, "entries": 1, "chars": 26}


RICH_BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "temperature": 0.5,
    "n": 2,
    "max_tokens": 10,
    "stop": ["a", "b"],
    "frequency_penalty": -1.5,
    "logit_bias": {"1": 2},
    "metadata": {"k": "v"},
    "stream_options": {"include_usage": True},
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    "service_tier": "auto",
    "modalities": ["text"],
    "audio": {"voice": "alloy", "format": "mp3"},
    "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": None}},
        {"type": "custom", "custom": {"name": "c", "format": {"type": "text"}}},
    ],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "safety_identifier": "s",
    "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "d"}]},
        {"role": "system", "content": "s", "name": "n"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "t"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "r", "tool_call_id": "1"},
    ],
}
PALETTE = [None, True, 0, 1, 1.0, 2.5, -3.7, 129, "", "x", "user", "text", "a" * 65, [], ["x"], {}]
PALETTE += [{"type": "text", "text": "x"}, {"role": "user", "content": "x"}, float("nan")]


def mutations(body: Any, path: tuple = ()) -> Iterator[Any]:
    """`body` with one node replaced by each `PALETTE` value, deleted, or given an extra member."""
    if path:
        yield from PALETTE
    if isinstance(body, dict):
        yield {**body, "zzz": 1}
        for key, child in body.items():
            yield {k: v for k, v in body.items() if k != key}
            for changed in mutations(child, (*path, key)):
                yield {**body, key: changed}
    elif isinstance(body, list):
        yield [*body, body[0] if body else 1]
        for index, child in enumerate(body):
            for changed in mutations(child, (*path, index)):
                yield [*body[:index], changed, *body[index + 1 :]]


def test_compiled_check_agrees_with_jsonschema() -> None:
    schema = load_schema("request")
    reference, check = jsonschema.Draft202012Validator(schema), compile_checker(schema)
    bodies = [
        RICH_BODY,
        chat_body("x", data_url()),
        *random.Random(0).sample(list(mutations(RICH_BODY)), 250),
    ]
    verdicts = [reference.is_valid(body) for body in bodies]
    assert [check(body) for body in bodies] == verdicts
    assert verdicts[:2] == [True, True] and 20 < sum(verdicts) < len(verdicts) - 20
    for keyword in ({"pattern": "a"}, {"const": 1}, {"$ref": "http://example.com/s"}, {"type": "any"}):
        with pytest.raises(Unsupported):
            compile_checker({"$schema": schema["$schema"], **keyword})


def test_loads_request_equals_json_loads_and_shares_long_urls() -> None:
    url = noise_data_url()
    body = json.dumps(chat_body("a\nb", url)).encode()
    start = body.find(b'"data:')
    raws = [body, body.replace(b'"a\\nb"', b'"\\u0000"'), json.dumps({"a": [url], url: 1}).encode()]
    raws += [json.dumps({"t": '"' + url + '"', "u": url}).encode(), body[:-3], b"\xef\xbb\xbf" + body]
    raws += [json.dumps({"u": url, "u2": url[:-1] + "\x01"}).encode(), json.dumps(url).encode()]
    raws += [b'{"a": "' + url.encode() + b'", "a": "x"}', body.decode().encode("utf-16")]
    raws += [json.dumps({"t": "\x000", "a": [url]}).encode()]  # text that looks like a slot
    rng = random.Random(0)
    for _ in range(300):  # single-byte damage around the lifted string
        raw = bytearray(body)
        where = rng.choice(
            [start - 1, start, start + 1, start + 30, body.find(b'"', start + 1) + rng.randint(-1, 1)]
        )
        raw[where : where + rng.randint(0, 1)] = bytes([rng.choice(b'"\\\x00 a}')])
        raws.append(bytes(raw))

    def typed(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: typed(v) for k, v in node.items()}
        if isinstance(node, list):
            return [typed(v) for v in node]
        return type(node).__name__, repr(node)

    def parse(parser: Callable[[bytes], Any], raw: bytes) -> Any:
        try:
            return typed(parser(raw))
        except ValueError as exc:
            return "error", str(exc)

    def reference(raw: bytes) -> Any:
        return json.loads(raw, object_hook=_wrap_long)

    for raw in raws:
        assert parse(loads_request, raw) == parse(reference, raw), raw[:80]
    first, second = loads_request(body), loads_request(body)
    first_url, second_url = (b["messages"][0]["content"][1]["image_url"]["url"] for b in (first, second))
    assert first_url == url and first_url is second_url  # lifted, and the same string object
    assert repr(first_url).endswith(f"({len(url)} chars)")


# -- construction, subprocess ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"faults": {"bogus": 0.1}},
        {"faults": {"500": 0.8}, "fault_rate": 0.5},
        {"latency": -1},
        {"max_concurrent": 0},
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="Fix:"):
        MockVLM(**kwargs)


def test_configure_rejects_unknown_settings(mock_vlm: MockVLM) -> None:
    with pytest.raises(ConfigError, match="unknown mock setting"):
        mock_vlm.configure(latencyy=1)
    mock_vlm.configure(latency=0.05, seed=5)
    assert mock_vlm.settings.latency == 0.05 and mock_vlm.seed == 5


def test_missing_jsonschema_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    request_validator.cache_clear()
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    try:
        with pytest.raises(ConfigError, match=re.escape(install_command("mock"))):  # -e <checkout> here
            MockVLM()
    finally:
        monkeypatch.undo()
        request_validator.cache_clear()
    assert request_validator()({"model": "m", "messages": [{"role": "user", "content": "hi"}]}) is None


def test_start_subprocess_serves_and_exits_on_terminate() -> None:
    proc, base_url = start_subprocess(faults={"503": 1.0}, seed=1)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        api = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            api.chat.completions.create(model="m", messages=user("hi"))
        assert info.value.status_code == 503
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_stats")
        assert json.loads(conn.getresponse().read())["503"] == 1
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_start_subprocess_reports_bad_flags() -> None:
    with pytest.raises(ConfigError, match="unknown mock option"):
        start_subprocess(latensy=1)
    with pytest.raises(ConfigError, match="the mock VLM did not start: ") as info:
        start_subprocess(faults={"bogus": 1.0}, timeout=20)
    assert "unknown fault kind" in str(info.value)  # the child's own one-line error
    assert str(info.value).count("Fix:") == 1


def test_a_mock_serving_named_models_refuses_others_like_a_real_server() -> None:
    import hf_vqa

    with hf_vqa.mock_server() as url:
        api = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        listed = [m.id for m in api.models.list().data]
        assert "mock-vlm" in listed and "gpt-4o-mini" in listed
        with pytest.raises(openai.NotFoundError) as err:
            api.chat.completions.create(model="gpt-4o-mnii", messages=[{"role": "user", "content": "hi"}])
        assert err.value.code == "model_not_found" and "gpt-4o-mnii" in str(err.value)
        ok = api.chat.completions.create(model="mock-vlm", messages=[{"role": "user", "content": "hi"}])
        assert ok.choices[0].message.content


def test_the_notebook_mock_snippet_in_the_docs_runs(tmp_path, monkeypatch, capsys) -> None:
    """docs/troubleshooting.md's "The mock from Python" snippet, run as written (from the repo root)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    marker = "tested by tests/test_mock_server.py::test_the_notebook_mock_snippet_in_the_docs_runs"
    snippet = text.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "store"))
    exec(compile(snippet, "docs/troubleshooting.md", "exec"), {})
    assert capsys.readouterr().out.startswith("rows=6 succeeded=6 failed=0")
