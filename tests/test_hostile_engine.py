"""The engine against servers that control every byte (`raw_server.RawServer`): adaptation that never
ends, partial and filtered streams, surrogate pairs split over deltas, gzip bombs, trickles, and keys
hidden in decoded text. Each test failed on the code before its fix (issue #25).
"""

from __future__ import annotations

import functools
import json
import resource
import struct
import zlib

import pytest
from raw_server import RawServer, Request, chunk, completion, head, http

from hf_vqa.config import VLM
from hf_vqa.engine import transport
from hf_vqa.engine.client import Engine

OPTIONAL = ("temperature", "top_p", "max_tokens", "reasoning_effort", "response_format", "top_k")


def every_knob(text: str) -> dict:
    """What `--temperature --top-p --max-tokens --reasoning-effort --json-mode --extra-body '{"top_k":20}'` sends."""
    return {"model": "m", "messages": [{"role": "user", "content": text}], "temperature": 0.2, "top_p": 0.9,
            "max_tokens": 50, "reasoning_effort": "low", "response_format": {"type": "json_object"},
            "top_k": 20}  # fmt: skip


def engine(url: str, tmp_path, **kw) -> Engine:
    kw.setdefault("cache_dir", str(tmp_path))
    kw.setdefault("api_key_env", "")
    return Engine(VLM(model="m", base_url=url, **kw))


def _unsupported(name: str) -> bytes:
    error = {"message": f"Unsupported parameter: '{name}' is not supported with this model.", "param": name,
             "type": "invalid_request_error"}  # fmt: skip
    return http(400, json.dumps({"error": error}).encode())


# -- 1. adaptation: a fixed budget, and the gate always opens ------------------------------------------


def names_a_present_parameter(req: Request):
    """A 400 naming a different parameter that is present each time; an answer once none is left."""
    present = [k for k in (req.json or {}) if k in OPTIONAL]
    yield _unsupported(present[0]) if present else http(200, completion("Q: a? A: b"))


def names_one_more_than_it_should(req: Request):
    """Like above, but once every parameter is gone it names one already dropped: never satisfied."""
    present = [k for k in (req.json or {}) if k in OPTIONAL]
    yield _unsupported(present[0] if present else "temperature")


@pytest.mark.timeout(60)
def test_an_endpoint_naming_a_new_parameter_each_time_is_adapted_to_and_the_run_ends(tmp_path):
    with RawServer(names_a_present_parameter) as srv:
        eng = engine(srv.base_url, tmp_path, max_concurrency=4)
        futures = [eng.submit(f"k{i}", every_knob(f"row {i}")) for i in range(6)]
        replies = [
            f.result(30) for f in futures
        ]  # before: the first row gave up after 4, the gate stayed shut
    assert all(r.text == "Q: a? A: b" for r in replies), [r.error for r in replies]
    assert eng.guard.adaptations.describe() == (
        "no temperature, no top_p, no max_tokens, no reasoning_effort, no response_format, no top_k"
    )
    assert len(srv.requests) == 6 + 6  # six adaptations (one each), then one answer per row


@pytest.mark.timeout(60)
def test_an_endpoint_that_is_never_satisfied_fails_every_row_with_its_message(tmp_path):
    with RawServer(names_one_more_than_it_should) as srv:
        eng = engine(srv.base_url, tmp_path, max_concurrency=4)
        futures = [eng.submit(f"k{i}", every_knob(f"row {i}")) for i in range(6)]
        replies = [f.result(30) for f in futures]
        sent = len(srv.requests)
    assert all(r.text is None for r in replies)
    assert all("Unsupported parameter: 'temperature' is not supported" in r.error for r in replies), replies
    assert sent <= 6 + 6  # each parameter dropped once for the run, then one final 400 per row


def test_the_gate_opens_when_the_first_request_ends_whatever_way(tmp_path):
    import asyncio

    from hf_vqa.engine.guard import Guard
    from hf_vqa.engine.settings import EngineSettings

    async def scenario(end) -> bool:
        vlm = VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="", cache_dir=str(tmp_path))
        guard = Guard(EngineSettings.of(vlm), "EMPTY")
        await guard.enter("first")
        waiter = asyncio.ensure_future(guard.enter("second"))
        await asyncio.sleep(0.01)
        guard.leave(
            "first", adapting=True
        )  # an adaptation: the first request goes again, the gate stays shut
        await asyncio.sleep(0.01)
        shut = not waiter.done()
        end(guard)
        await asyncio.wait_for(waiter, 5)
        return shut

    def cancelled(guard: Guard) -> None:  # what `Engine._run`'s finally does when its task is cancelled
        guard.done("first")

    def answered(guard: Guard) -> None:
        guard.leave("first", adapting=False)

    assert asyncio.run(scenario(cancelled)) and asyncio.run(scenario(answered))


# -- 5. partial replies are not answers; 6. surrogate pairs split over deltas ----------------------------

QA = "Q: What is in the picture? A: A red square."
EMOJI = "\U0001f600"


def _stream(*events: bytes):
    """A handler sending these SSE events, then closing (no Content-Length: the body ends at close)."""

    def handler(req: Request):
        yield head() + b"".join(events)

    return handler


def _ask(handler, tmp_path, key: str = "k", **kw):
    with RawServer(handler) as srv:
        eng = engine(srv.base_url, tmp_path, **kw)
        reply = eng.submit(key, every_knob("row")).result(30)
    return reply, eng, len(srv.requests)


DONE = b"data: [DONE]\n\n"


@pytest.mark.parametrize(
    ("events", "says", "sends"),
    [
        pytest.param((chunk("Q: What is"), b'event: error\ndata: {"message": "upstream overloaded"}\n\n', DONE),
                     "upstream overloaded", 2, id="error-event-mid-stream"),
        pytest.param((chunk("Q: What is"), chunk(" in the pic"),), "without data: [DONE]", 2,
                     id="cut-without-finish-or-done"),
        pytest.param((chunk("Q: What is"), chunk(None, "content_filter"), DONE), "content filter", 1,
                     id="half-then-content-filter"),
    ],
)  # fmt: skip
def test_a_partial_stream_is_a_failed_row_that_keeps_its_text(tmp_path, events, says, sends):
    reply, eng, sent = _ask(_stream(*events), tmp_path, max_retries=1)
    assert reply.text is None and says in reply.error, reply.error
    assert "partial reply" in reply.error and "Q: What is" in reply.error, reply.error
    assert sent == sends  # a cut or failed stream is retried; a filtered one would be filtered again
    assert eng.store.get("k") is None  # nothing stored: a rerun (or --retry-failed) asks again


def test_an_empty_answer_is_not_an_answer_even_when_it_is_already_stored(tmp_path):
    reply, eng, sent = _ask(_stream(chunk(""), chunk("  ", "stop"), DONE), tmp_path, max_retries=0)
    assert reply.text is None and "empty reply" in reply.error and sent == 1
    assert eng.store.get("k") is None
    eng.store._conn().execute(
        "INSERT INTO replies VALUES ('old', '', 'stop', 1, 0, 1, 0)"
    )  # an older version's row
    assert eng.store.get("old") is None and eng.lookup("old") is None  # before: a stored "" was an answer


def test_one_event_over_two_data_lines_is_one_chunk(tmp_path):
    event = (b'data: {"choices": [{"index": 0,\ndata: "delta": {"content": "' + QA.encode() + b'"},\n'
             b'data: "finish_reason": "stop"}]}\n\n')  # fmt: skip
    reply, _eng, sent = _ask(_stream(event, DONE), tmp_path, max_retries=0)
    assert reply.error is None and reply.text == QA and sent == 1


@pytest.mark.parametrize("use_store", [True, False])
def test_an_emoji_split_over_two_deltas_is_one_character_again(tmp_path, use_store):
    events = (
        chunk("Q: How does it look? A: "),
        chunk(raw="\\ud83d"),
        chunk(raw="\\ude00", finish="stop"),
        DONE,
    )
    reply, eng, _sent = _ask(_stream(*events), tmp_path, max_retries=0, use_store=use_store)
    assert reply.error is None and reply.text == "Q: How does it look? A: " + EMOJI, reply.error
    reply.text.encode("utf-8")  # before: UnicodeEncodeError on every row, a crash with --no-cache
    if use_store:
        assert eng.store.get("k").text.endswith(EMOJI)


def test_a_lone_surrogate_in_a_plain_reply_becomes_a_replacement_character(tmp_path):
    body = (
        b'{"choices": [{"index": 0, "message": {"content": "Q: x? A: \\ud83d y"}, "finish_reason": "stop"}]}'
    )
    reply, _eng, _sent = _ask(lambda req: [http(200, body)], tmp_path, max_retries=0)
    assert reply.text == "Q: x? A: \ufffd y"


# -- 7. compressed replies are capped as they inflate; every call has a whole-call deadline --------------

MB = 1 << 20


@functools.cache
def bomb(encoding: str, megabytes: int = 512) -> bytes:
    """~0.5 MB of `encoding` (gzip or deflate) that inflates to `megabytes` MB of zeros, built in a second
    from one compressed megabyte repeated (each block starts fresh after a full flush)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MB)) + c.flush(zlib.Z_FULL_FLUSH)
    raw = block * megabytes + b"\x03\x00"  # the final, empty block
    crc, adler = 0, 1
    for _ in range(megabytes):
        crc, adler = zlib.crc32(bytes(MB), crc), zlib.adler32(bytes(MB), adler)
    if encoding == "gzip":
        return (
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
            + raw
            + struct.pack("<II", crc, (megabytes * MB) % 2**32)
        )
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
def test_a_compression_bomb_is_cut_at_the_cap_counting_inflated_bytes(tmp_path, monkeypatch, kind, encoding):
    monkeypatch.setattr(transport, "kind", lambda: kind)
    body = bomb(encoding)
    before = _peak_rss_mb()
    handler = lambda req: [http(200, body, headers={"Content-Encoding": encoding})]  # noqa: E731
    reply, eng, sent = _ask(handler, tmp_path, max_retries=2, max_reply_bytes=MB)
    grew = _peak_rss_mb() - before
    assert reply.text is None and "larger than the cap" in reply.error, reply.error
    assert sent == 1 and len(eng.store) == 0  # final: the same request would get the same bomb
    assert grew < 200, f"peak RSS grew {grew:.0f} MB reading a {len(body):,}-byte {encoding} reply"


def _trickle(req: Request):
    """A stream whose every byte is on time for a read timeout, yet that would take a minute in all."""
    yield head()
    for byte in chunk(QA, "stop") * 4:
        yield bytes([byte])
        yield 0.4


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
def test_a_stream_trickling_a_byte_at_a_time_is_cut_by_the_whole_call_deadline(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(transport, "kind", lambda: kind)
    reply, _eng, sent = _ask(_trickle, tmp_path, max_retries=0, timeout=1.0)
    assert reply.text is None and "timed out after 1s" in reply.error and sent == 1, reply.error


# -- 2. keys: redacted from decoded text in every form, before anything is stored or written --------------

KEY = "sk-hfvqa-SECRET-0123456789abcdef"
NEEDLES = (KEY, "hfvqa-SECRET", "SECRET-0123456789abcdef")


def _escaped(text: str) -> str:
    """`text` as JSON escapes (``\\u0073\\u006b...``), the way a server may echo a header."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _files_with_the_key(root) -> list[str]:
    import sqlite3

    found = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data.decode("utf-8", "replace")
        if path.name.endswith(".sqlite"):
            conn = sqlite3.connect(path)
            text += " ".join(str(v) for t in ("replies", "reasoning") for r in conn.execute(f"SELECT * FROM {t}")
                             for v in r)  # fmt: skip
            conn.close()
        if any(n in text for n in NEEDLES):
            found.append(str(path))
    return found


@pytest.mark.parametrize(
    "events",
    [
        pytest.param((chunk("Q: key? A: you sent sk-hfvqa-SEC"), chunk("RET-0123456789abcdef", "stop"), DONE),
                     id="split-across-deltas"),
        pytest.param((chunk(raw="Q: key? A: " + _escaped(KEY)), chunk(None, "stop"), DONE), id="json-escaped"),
        pytest.param((chunk(raw="Q: key? A: sk-" + _escaped("hfvqa-SECRET") + "-0123456789abcdef"),
                      chunk(None, "stop"), DONE), id="partly-escaped"),
        pytest.param((chunk("Q: key? A: sk-hfvqa-SEC"), chunk("RET-0123456789abcdef"),), id="in-a-partial-reply"),
    ],
)  # fmt: skip
def test_a_key_echoed_in_any_form_reaches_no_answer_error_or_file(tmp_path, monkeypatch, events):
    monkeypatch.setenv("HOSTILE_ENGINE_KEY", KEY)
    reply, _eng, _sent = _ask(_stream(*events), tmp_path, api_key_env="HOSTILE_ENGINE_KEY", max_retries=0)
    shown = f"{reply.text} {reply.error} {reply.reasoning}"
    assert "<redacted>" in shown and not [n for n in NEEDLES if n in shown], shown
    assert not _files_with_the_key(tmp_path)


def test_batch_import_answers_and_errors_are_redacted_before_they_are_stored(tmp_path, monkeypatch):
    from hf_vqa.batch.run import import_results
    from hf_vqa.engine.store import get_store

    monkeypatch.setenv("HOSTILE_ENGINE_KEY", KEY)
    answer = {"choices": [{"index": 0, "message": {"content": "Q: key? A: " + KEY}, "finish_reason": "stop"}]}
    lines = [
        {"custom_id": "a", "response": {"status_code": 200, "body": answer}},
        {
            "custom_id": "b",
            "response": {"status_code": 401, "body": {"error": {"message": f"bad key {KEY}"}}},
        },
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(json.dumps(x).replace(KEY, _escaped(KEY)) for x in lines) + "\n")
    vlm = VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="HOSTILE_ENGINE_KEY",
              cache_dir=str(tmp_path / "store"))  # fmt: skip
    m = import_results(vlm, results, tmp_path / "out.batch.json")
    assert get_store(vlm.cache_dir).get("a").text == "Q: key? A: <redacted>"
    assert "<redacted>" in m.errors["b"] and KEY not in m.errors["b"]
    assert (
        not _files_with_the_key(tmp_path.joinpath("store"))
        and KEY not in (tmp_path / "out.batch.json").read_text()
    )


def test_a_url_with_userinfo_is_refused_without_showing_it(monkeypatch):
    import pickle

    from hf_vqa.cli.command import command_line
    from hf_vqa.errors import ConfigError

    with pytest.raises(ConfigError) as info:  # before: accepted; every row failed, the retry hint showed it
        VLM(model="m", base_url=f"http://user:{KEY}@127.0.0.1:9/v1")
    said = f"{info.value} {info.value!r} {pickle.dumps(info.value)!r}"
    assert "user name or password" in said and "http://***@127.0.0.1:9/v1" in said and KEY not in said
    line = command_line(["image-vqa", "--base-url", f"http://u:{KEY}@h/v1"], argv0="hf-vqa")
    assert KEY not in line and "http://***@h/v1" in line


def test_an_invalid_extra_body_is_not_echoed():
    from hf_vqa.errors import ConfigError

    for text in (f'{{"api_key": "{KEY}", oops}}', f'["{KEY}"]'):
        with pytest.raises(ConfigError) as info:
            VLM(model="m", base_url="http://127.0.0.1:9/v1", extra_body=text)
        said = f"{info.value} {info.value!r} {info.value.__cause__!r}"
        assert "extra_body" in said and KEY not in said, said


def test_a_long_partial_reply_is_kept_whole_in_the_error(tmp_path):
    long = "Q: " + "word " * 400  # 2,003 characters: more than an error's usual 400
    reply, _eng, _sent = _ask(
        _stream(chunk(long), chunk(None, "content_filter"), DONE), tmp_path, max_retries=0
    )
    assert (
        reply.text is None and long.strip() in reply.error and "(2,003 chars, not an answer)" in reply.error
    )


@pytest.mark.slow
def test_the_cli_with_every_knob_ends_against_an_endpoint_that_names_a_new_parameter_each_time(tmp_path):
    """Item 1 as a user meets it: the command of the issue, against the server that hung it (killed at 90 s)."""
    from clitools import SAMPLE, run_cli

    knobs = ["--temperature", "0.2", "--top-p", "0.9", "--max-tokens", "50", "--reasoning-effort", "low",
             "--json-mode", "--extra-body", '{"top_k": 20}']  # fmt: skip
    with RawServer(names_one_more_than_it_should) as srv:
        out = tmp_path / "out.jsonl"
        res = run_cli("image-vqa", "--input", SAMPLE, "--output", out, "--base-url", srv.base_url,
                      "--api-key-env", "", "--model", "m", "--max-concurrency", "4", *knobs,
                      tmp_path=tmp_path, timeout=90)  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert res.returncode == 1 and rows, res.stderr[-2000:]  # it ends: every row failed (exit 1), none hangs
    assert all("Unsupported parameter: 'temperature' is not supported" in r["vqa_error"] for r in rows), rows[
        0
    ]
