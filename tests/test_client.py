"""The request engine (concurrency, retries, the store) against the real loopback server."""

import time

import pytest
from fixtures_vlm import chat_body, engine_for

from hf_vqa.config import VLM
from hf_vqa.engine.client import Engine, get_engine
from hf_vqa.engine.store import Store, StoredReply


def test_success_records_usage_and_is_stored_before_the_future_resolves(tmp_path, mock_vlm):
    engine = engine_for(mock_vlm, tmp_path)
    reply = engine.submit("k1", chat_body()).result(10)
    assert reply.error is None and reply.text.startswith("Q1:")
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0 and reply.attempts == 1
    assert Store(tmp_path).get("k1").text == reply.text
    again = engine.submit("k1", chat_body()).result(1)
    assert again.cached and again.text == reply.text and mock_vlm.stats()["requests"] == 1


def test_identical_requests_in_flight_share_one_call(tmp_path, make_mock_vlm):
    server = make_mock_vlm(latency=0.2)
    engine = engine_for(server, tmp_path, use_store=False)
    futures = [engine.submit("same", chat_body()) for _ in range(5)]
    assert len({f.result(10).text for f in futures}) == 1
    assert server.stats()["requests"] == 1


@pytest.mark.parametrize("kind", ["500", "503", "drop", "malformed", "empty", "timeout"])
def test_each_transient_fault_is_retried(tmp_path, make_mock_vlm, kind):
    server = make_mock_vlm(faults={kind: 1.0}, retry_after=0.05, slow_seconds=1.0)
    engine = engine_for(server, tmp_path, timeout=0.3, max_retries=2)
    reply = engine.submit("k", chat_body()).result(30)
    assert reply.text is None and reply.attempts == 3, reply
    assert server.stats()["requests"] == 3
    server.configure(faults={})
    assert engine.submit("k", chat_body()).result(30).text  # a failure is not cached: it is asked again


def test_429_honours_retry_after_and_does_not_use_up_max_retries(tmp_path, make_mock_vlm):
    server = make_mock_vlm(faults={"429": 1.0}, retry_after=0.3)
    engine = engine_for(server, tmp_path, max_retries=1, rate_limit_wait=1.0)
    t0 = time.monotonic()
    reply = engine.submit("k", chat_body()).result(30)
    elapsed = time.monotonic() - t0
    assert reply.error.startswith("HTTP 429 after") and reply.attempts >= 3  # past max_retries=1
    assert 0.6 <= elapsed <= 2.5  # it waited Retry-After each time, and gave up after rate_limit_wait
    assert server.stats()["requests"] == reply.attempts


@pytest.mark.parametrize("status, server_kw", [(401, {"api_key": "right"}), (400, {})])
def test_client_errors_are_not_retried(tmp_path, make_mock_vlm, monkeypatch, status, server_kw):
    server = make_mock_vlm(**server_kw)
    monkeypatch.setenv("HF_VQA_T_KEY", "wrong")
    engine = Engine(
        VLM(model="m", base_url=server.base_url, api_key_env="HF_VQA_T_KEY", cache_dir=str(tmp_path))
    )
    bad = chat_body() if status == 401 else {"model": "m", "messages": [{"role": "nobody", "content": "x"}]}
    reply = engine.submit("k", bad).result(10)
    assert reply.error.startswith(f"HTTP {status} after 1 attempt(s)") and reply.attempts == 1
    assert "wrong" not in reply.error


def test_a_down_endpoint_pauses_every_row_together_then_gives_up_and_says_so(tmp_path, free_tcp_port):
    engine = Engine(VLM(model="m", base_url=f"http://127.0.0.1:{free_tcp_port}/v1", api_key_env="",
                        max_retries=3, cache_dir=str(tmp_path), give_up_after=1.5))  # fmt: skip
    replies = [f.result(60) for f in [engine.submit(f"k{i}", chat_body(str(i))) for i in range(200)]]
    assert all("endpoint unreachable: gave up after" in r.error for r in replies)
    assert f"http://127.0.0.1:{free_tcp_port}/v1" in replies[0].error
    assert "last error: connection error" in replies[0].error
    # one shared backoff: a few probes, not 200 rows x 4 attempts
    assert engine.stats.sent < 40, engine.stats.sent


def test_a_capped_server_is_handled_by_backing_off(tmp_path, make_mock_vlm):
    server = make_mock_vlm(latency=0.05, max_concurrent=4, retry_after=0.05)
    engine = engine_for(server, tmp_path, max_concurrency=32, max_retries=8)
    replies = [f.result(60) for f in [engine.submit(f"k{i}", chat_body(str(i))) for i in range(120)]]
    assert all(r.error is None for r in replies)
    assert server.stats()["concurrency_429"] > 0  # it really was over the cap, and recovered
    assert engine._sender.limiter.window < 32  # the window came down


def test_one_engine_per_process_and_settings(tmp_path):
    vlm = VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="", cache_dir=str(tmp_path))
    assert get_engine(vlm) is get_engine(vlm)
    assert get_engine(vlm) is not get_engine(VLM(model="n", base_url="http://127.0.0.1:9/v1", api_key_env="",
                                                 cache_dir=str(tmp_path)))  # fmt: skip


def test_forked_workers_do_not_report_the_parents_sessions_as_unclosed(tmp_path, mock_vlm):
    """A notebook that already sent requests, then maps with num_proc=2: the forked workers inherit the
    parent's engine; dropping the copy made the GC print 'Unclosed client session' in every worker."""
    import subprocess
    import sys

    from clitools import SAMPLE

    script = f"""
import hf_vqa
vlm = hf_vqa.VLM(model="m", base_url={mock_vlm.base_url!r}, api_key_env="", cache_dir={str(tmp_path / "s")!r})
ds = hf_vqa.load_records({str(SAMPLE)!r}, cache_dir={str(tmp_path / "c")!r})
ds.map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={{"vlm": vlm, "prompt": "Ask one question."}})
out, summary = hf_vqa.run_pipeline(ds, "image-vqa", vlm=vlm, num_proc=2)
print(summary.line())
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    assert "succeeded=6" in res.stdout
    assert "Unclosed" not in res.stderr


def test_replies_arriving_together_are_committed_together(tmp_path, make_mock_vlm, monkeypatch):
    batches = []
    add_many = Store.add_many

    def spy(self, items):
        batches.append(len(items))
        return add_many(self, items)

    monkeypatch.setattr(Store, "add_many", spy)
    server = make_mock_vlm(latency=0.2)
    engine = engine_for(server, tmp_path, max_concurrency=32)
    futures = [engine.submit(f"k{i}", chat_body(f"question {i}")) for i in range(32)]
    assert all(f.result(30).error is None for f in futures)
    assert sum(batches) == 32 and max(batches) > 1, batches  # fewer commits than replies
    fresh = Store(tmp_path)
    assert all(fresh.get(f"k{i}") is not None for i in range(32))  # each durable before its future


def test_keys_submitted_together_are_claimed_together_and_not_claimed_again_to_send(
    tmp_path, make_mock_vlm, monkeypatch
):
    batches, singles = [], []
    claim_many = Store.claim_many

    def spy(self, keys, ttl):
        batches.append(len(keys))
        return claim_many(self, keys, ttl)

    monkeypatch.setattr(Store, "claim_many", spy)
    monkeypatch.setattr(Store, "claim", lambda self, key, ttl: singles.append(key) or True)
    server = make_mock_vlm(latency=0.2)
    engine = engine_for(server, tmp_path, max_concurrency=32)
    futures = [engine.submit(f"k{i}", chat_body(f"question {i}")) for i in range(32)]
    assert all(f.result(30).error is None for f in futures)
    assert sum(batches) == 32 and max(batches) > 1, batches  # fewer claim transactions than requests
    assert singles == []  # each claim was just taken when its request went out: no renewal
    assert server.stats()["requests"] == 32


def test_a_key_answered_in_the_store_before_it_is_claimed_is_not_sent(tmp_path, make_mock_vlm):
    server = make_mock_vlm(latency=0.05)
    engine = engine_for(server, tmp_path)
    other = Store(tmp_path)  # another run's answer lands after the lookup, before the claim
    other.put("k", StoredReply("theirs", "stop", 1, 1, 1))
    reply = engine.submit("k", chat_body(), looked_up=True).result(10)
    assert reply.text == "theirs" and reply.cached and server.stats()["requests"] == 0
