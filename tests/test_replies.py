"""Judging replies: answers, retryable and final failures, Retry-After and the stop rule."""

import json

import pytest
import tenacity

from hf_vqa.engine.http_reply import Response
from hf_vqa.engine.outcomes import Fatal, Transient
from hf_vqa.engine.replies import Stop, error_message, judge, redact, retry_after


def completion(content, finish="stop"):
    body = {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}}  # fmt: skip
    return Response(200, {}, json.dumps(body).encode())


def test_an_answer_keeps_text_usage_and_finish_reason():
    reply = judge(completion("Q: a? A: b", finish="length"))
    assert (reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens) == (
        "Q: a? A: b", "length", 7, 3)  # fmt: skip


@pytest.mark.parametrize("resp", [Response(200, {}, b"<html>oops"), Response(200, {}, b'{"choices": [{"mess'),
                                  completion("   ")])  # fmt: skip
def test_cut_or_empty_answers_are_retryable(resp):
    with pytest.raises(Transient):
        judge(resp)


def test_statuses_are_sorted_into_retryable_and_final():
    rate = Response(429, {"retry-after": "2"}, b'{"error": {"message": "slow down"}}')
    with pytest.raises(Transient) as err:
        judge(rate)
    assert (err.value.status, err.value.retry_after, str(err.value)) == (429, 2.0, "slow down")
    for status in (500, 503, 408, 409):
        with pytest.raises(Transient):
            judge(Response(status, {}, b"{}", "Server Error"))
    for status in (400, 401, 404, 422):
        with pytest.raises(Fatal):
            judge(Response(status, {}, b'{"message": "bad"}'))


def test_error_messages_never_carry_the_key():
    key = "sk-secret-0123456789"
    resp = Response(
        401, {}, json.dumps({"error": {"message": f"Incorrect API key provided: {key}"}}).encode()
    )
    assert error_message(resp, key) == "Incorrect API key provided: <redacted>"
    assert error_message(Response(502, {}, b"", "Bad Gateway")) == "Bad Gateway"
    assert redact(f"Bearer {key}", key) == "Bearer <redacted>"


def test_retry_after_header_forms():
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "100000"}) == 120.0
    assert retry_after({}) is None
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_429s_do_not_use_up_max_retries_but_other_errors_do():
    stop = Stop(max_retries=2, patience=600)

    def state(err, elapsed=1.0):
        s = tenacity.RetryCallState(None, None, (), {})
        s.outcome = tenacity.Future(1)
        s.outcome.set_exception(err)
        s.outcome_timestamp = s.start_time + elapsed
        return s

    assert not any(stop(state(Transient("rate", 429, 1.0))) for _ in range(50))
    assert stop(state(Transient("rate", 429, 30.0), elapsed=590.0))  # patience runs out
    assert [stop(state(Transient("boom", 500))) for _ in range(3)] == [False, False, True]


def body(**choice_and_top):
    top = choice_and_top.pop("top", {})
    return Response(200, {}, json.dumps({"choices": [choice_and_top], **top}).encode())


@pytest.mark.parametrize(
    ("resp", "says"),
    [
        (
            body(message={"content": None, "refusal": "I can't help with that."}),
            "refused by the model: I can't help",
        ),
        (body(message={"content": None}, finish_reason="content_filter"), "content filter"),
        (Response(200, {}, b'{"choices": []}'), "no choices"),
        (Response(200, {}, b'{"object": "list", "data": []}'), "not a chat completion"),
        (Response(200, {}, b'{"choices": [{"message": {"content": "caf\xe9"}}]}'), "not UTF-8"),
    ],
)
def test_replies_that_would_repeat_are_final_and_say_what_they_were(resp, says):
    with pytest.raises(Fatal, match=says):
        judge(resp)


def test_a_stream_reply_is_read_even_when_not_asked_for():
    """Server-sent events are joined (`engine/sse.py`), asked for (``--stream``) or not."""
    reply = judge(
        Response(200, {}, b'data: {"choices": [{"delta": {"content": "Q: a? A: b"}}]}\n\ndata: [DONE]\n\n')
    )
    assert reply.text == "Q: a? A: b"


@pytest.mark.parametrize("usage", [{"prompt_tokens": "n/a", "completion_tokens": "abc"}, "n/a", None, [1]])
def test_odd_usage_values_count_as_unknown_and_keep_the_answer(usage):
    reply = judge(body(message={"content": "Q: a? A: b"}, finish_reason="stop", top={"usage": usage}))
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("Q: a? A: b", 0, 0)


def test_the_key_is_redacted_from_answers_too():
    key = "sk-secret-0123456789"
    reply = judge(completion(f"Q: a? A: you sent Bearer {key}"), key)
    assert key not in reply.text and "Bearer <redacted>" in reply.text
