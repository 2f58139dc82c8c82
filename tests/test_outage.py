"""The shared pause when the endpoint is down (`engine/outage.py`): all rows wait together, resume on
the first answer, and the run gives up after `give_up_after` with one message naming the URL."""

from __future__ import annotations

import threading
import time

from fixtures_vlm import chat_body, engine_for


def _submit(engine, n):
    return [engine.submit(f"k{i}", chat_body(str(i))) for i in range(n)]


def test_a_dead_upstream_pauses_every_row_and_they_resume_without_using_their_retries(
    tmp_path, make_mock_vlm
):
    server = make_mock_vlm(faults={"500": 1.0})  # a gateway whose upstream is down: 500 for everything
    engine = engine_for(server, tmp_path, max_concurrency=16, max_retries=1, give_up_after=60)
    timer = threading.Timer(1.5, lambda: server.configure(faults={}))  # the upstream comes back
    timer.start()
    try:
        replies = [f.result(60) for f in _submit(engine, 50)]
    finally:
        timer.cancel()
    assert [r.error for r in replies] == [None] * 50  # max_retries=1 alone would have failed them
    stats = server.stats()
    assert stats["500"] < 30, stats  # one shared backoff with one probe, not 50 rows x 2 attempts


def test_a_dead_upstream_is_given_up_on_with_one_message_naming_the_url(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"500": 1.0})
    engine = engine_for(server, tmp_path, max_concurrency=8, max_retries=6, give_up_after=1.0)
    replies = [f.result(60) for f in _submit(engine, 40)]
    assert all("endpoint failing: gave up after 1." in r.error for r in replies)
    assert all(f"without an answer from {server.base_url}" in r.error for r in replies)
    assert "last error: HTTP 500" in replies[-1].error
    assert server.stats()["requests"] < 20  # not 40 rows x 7 attempts


def test_one_row_that_always_fails_does_not_pause_the_run(tmp_path, make_mock_vlm):
    from hf_vqa.engine.outage import Outage

    outage = Outage("http://h/v1", give_up_after=60, threshold=2)
    for _ in range(10):
        outage.failed("poison", "HTTP 500: boom")
    assert not outage.active and outage.gave_up is None
    outage.failed("other", "HTTP 500: boom")
    assert outage.active
    outage.succeeded()
    assert not outage.active and outage.failures == 0


def test_after_giving_up_a_later_run_in_the_same_process_finds_the_endpoint_again(
    tmp_path, make_mock_vlm, monkeypatch
):
    from hf_vqa.engine import outage

    monkeypatch.setattr(outage, "PROBE_AFTER_GIVE_UP", 0.3)
    server = make_mock_vlm(faults={"500": 1.0})
    engine = engine_for(server, tmp_path, max_concurrency=4, max_retries=3, give_up_after=0.5)
    assert all("gave up" in f.result(60).error for f in _submit(engine, 8))
    server.configure(faults={})  # the endpoint is back; the notebook runs the cell again
    time.sleep(0.4)
    assert [
        f.result(60).error for f in [engine.submit(f"again{i}", chat_body(f"x{i}")) for i in range(8)]
    ] == [None] * 8


def test_max_retries_0_means_nothing_waits_on_a_dead_endpoint(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"500": 1.0})
    engine = engine_for(server, tmp_path, max_concurrency=4, max_retries=0, give_up_after=60)
    t0 = time.monotonic()
    replies = [f.result(60) for f in _submit(engine, 8)]
    assert all(r.error.startswith("HTTP 500 after 1 attempt(s)") for r in replies)
    assert time.monotonic() - t0 < 10 and server.stats()["requests"] == 8
