"""The engine against servers that control every byte (`raw_server.RawServer`): adaptation that never
ends, partial and filtered streams, surrogate pairs split over deltas, gzip bombs, trickles, and keys
hidden in decoded text. Each test failed on the code before its fix (issue #25).
"""

from __future__ import annotations

import json

import pytest
from raw_server import RawServer, Request, completion, http

from hf_vqa.config import VLM
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
        replies = [f.result(30) for f in futures]  # before: the first row gave up after 4, the gate stayed shut
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

    async def scenario(end) -> bool:
        guard = Guard(VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="", cache_dir=str(tmp_path)),
                      "EMPTY")  # fmt: skip
        await guard.enter("first")
        waiter = asyncio.ensure_future(guard.enter("second"))
        await asyncio.sleep(0.01)
        guard.leave("first", adapting=True)  # an adaptation: the first request goes again, the gate stays shut
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
