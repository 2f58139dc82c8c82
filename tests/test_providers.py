"""Real providers' documented quirks, reproduced by the mock VLM's profiles, run through the real CLI.

Each profile (`hf_vqa.mock.profiles`) follows what a provider documents or what its users report;
the sources are cited in each test.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from clitools import ROOT, run_cli

from hf_vqa.engine.adapt import Adaptations, Change, change_for, error_info, record_path
from hf_vqa.engine.http_reply import Response
from hf_vqa.engine.outcomes import Fatal, Transient
from hf_vqa.engine.replies import judge
from hf_vqa.engine.sse import assemble
from hf_vqa.engine.thinking import split
from hf_vqa.messages import FakeImage, build_request

IMAGES = sorted((ROOT / "examples" / "sample" / "images").iterdir())
KEY = {"OPENAI_API_KEY": "sk-test-key-0123456789"}


def records(
    tmp_path: Path, n: int, *, images_per_row: int = 1, human: bool = True, name: str = "in.json"
) -> Path:
    """`n` rows, each with its own prompt (so no two requests are the same) and absolute image paths."""
    rows = []
    for i in range(n):
        row: dict = {"image": [str(IMAGES[(i + k) % len(IMAGES)]) for k in range(images_per_row)]}
        if human:
            tags = "<image>" * images_per_row
            row["conversation"] = [
                {"from": "human", "value": f"{tags}\nRow {i}: write three question-answer pairs."}
            ]
        rows.append(row)
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return path


def load_output(folder: Path) -> datasets.Dataset:
    return datasets.load_dataset("parquet", data_files=str(folder / "data" / "*.parquet"), split="train",
                                 cache_dir=str(folder.parent / "read-cache"))  # fmt: skip


def cli(server, *args: object, tmp_path: Path, env: dict | None = None, model: str = "gpt-4o-mini"):
    return run_cli(
        *args, "--base-url", server.base_url, "--model", model, tmp_path=tmp_path, env={**KEY, **(env or {})}
    )


# -- OpenAI reasoning models ------------------------------------------------------------------------


def test_gpt5_with_cli_defaults_and_explicit_values_answers_every_row(tmp_path, make_mock_vlm) -> None:
    """OpenAI's GPT-5 family and o-series reject ``temperature`` other than 1 (400, ``param:
    "temperature"``, ``code: "unsupported_value"``) and ``max_tokens`` ("Use 'max_completion_tokens'
    instead.", ``code: "unsupported_parameter"``): https://platform.openai.com/docs/guides/reasoning,
    error bodies as reported in https://github.com/griptape-ai/ComfyUI-Griptape/issues/312 and
    https://github.com/teilomillet/gollm/issues/33. Defaults send neither; explicit values adapt once."""
    server = make_mock_vlm(profile="openai-reasoning")
    src = records(tmp_path, 6)
    res = cli(
        server, "image-vqa", "--input", src, "--output", "a", tmp_path=tmp_path, model="gpt-5-nano-2025-08-07"
    )
    assert res.returncode == 0, res.stderr
    assert "succeeded=6 failed=0" in res.stdout and server.stats()["invalid"] == 0
    server.reset()
    res = cli(server, "image-vqa", "--input", src, "--output", "b", "--max-tokens", "2048", "--temperature", "0",
              "--no-cache", "--max-concurrency", "2", tmp_path=tmp_path, model="gpt-5-nano-2025-08-07")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "succeeded=6 failed=0" in res.stdout
    assert "(sent: no temperature, max_tokens→max_completion_tokens)" in res.stdout
    assert server.stats()["invalid"] == 2  # one rejection per parameter: the first request goes alone
    card = (tmp_path / "b" / "README.md").read_text()
    assert '- Generation parameters sent: `{"max_completion_tokens": 2048}`' in card


def test_reasoning_effort_is_sent_and_a_rejected_value_is_dropped(tmp_path, make_mock_vlm) -> None:
    """``reasoning_effort`` is minimal/low/medium/high on OpenAI's reasoning models
    (https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort); a model
    that does not support a value (here ``xhigh``) answers 400 ``unsupported_value`` naming the param."""
    server = make_mock_vlm(profile="openai-reasoning")
    src = records(tmp_path, 3)
    res = cli(server, "image-vqa", "--input", src, "--output", "o.json", "--reasoning-effort", "low",
              tmp_path=tmp_path, model="o4-mini")  # fmt: skip
    assert res.returncode == 0 and server.stats()["invalid"] == 0, res.stderr
    res = cli(server, "image-vqa", "--input", src, "--output", "p.json", "--reasoning-effort", "xhigh",
              tmp_path=tmp_path, model="o4-mini")  # fmt: skip
    assert res.returncode == 0 and "(sent: no reasoning_effort)" in res.stdout, res.stderr


# -- stream-only thinking models (DashScope / ModelScope) ---------------------------------------------


def test_context_vqa_streams_from_a_stream_only_thinking_model(tmp_path, make_mock_vlm) -> None:
    """Thinking models on DashScope/ModelScope answer only with ``stream=true`` and stream
    ``reasoning_content`` deltas before the answer: https://github.com/modelscope/modelscope/issues/1513
    ("thinking模型不支持非流式"), https://github.com/coze-dev/coze-studio/issues/324 ("parameter.enable_thinking
    must be set to false for non-streaming calls"); usage comes in the last chunk with
    ``stream_options.include_usage`` (https://docs.qwencloud.com/developer-guides/text-generation/streaming)."""
    server = make_mock_vlm(profile="stream-only-thinking")
    src = records(tmp_path, 5, human=False)
    res = cli(
        server, "context-vqa", "--input", src, "--output", "s", "--stream", tmp_path=tmp_path, model="qvq-max"
    )
    assert res.returncode == 0, res.stderr
    assert "succeeded=5 failed=0 parse_failed=0" in res.stdout and server.stats()["invalid"] == 0
    out = load_output(tmp_path / "s")
    assert all(r and r.startswith("Looking at the image") for r in out["vqa_reasoning"])
    assert not any("Looking at the image" in v for v in out["vqa"])  # never in the parsed answer
    assert all(u["completion_tokens"] > 0 and u["prompt_tokens"] > 0 for u in out["vqa_usage"])
    # the same run without --stream: the endpoint says it only streams, so the run switches, once
    server.reset()
    res = cli(
        server,
        "context-vqa",
        "--input",
        src,
        "--output",
        "n",
        "--no-cache",
        "--max-concurrency",  # more rows than slots: the rows waiting for the first one hold no slot
        "2",
        tmp_path=tmp_path,
        model="qvq-max",
    )
    assert res.returncode == 0, res.stderr
    assert "succeeded=5 failed=0 parse_failed=0" in res.stdout and "(sent: stream=true)" in res.stdout
    assert server.stats()["invalid"] == 1
    assert load_output(tmp_path / "n")["vqa"] == out["vqa"]


def test_extra_body_reaches_the_endpoint_and_changes_the_store_key(tmp_path, make_mock_vlm) -> None:
    """DashScope's ``enable_thinking: false`` (passed with the SDK's ``extra_body``) allows a non-stream
    call: https://github.com/Mintplex-Labs/anything-llm/issues/3933."""
    server = make_mock_vlm(profile="stream-only-thinking")
    src = records(tmp_path, 3)
    res = cli(server, "image-vqa", "--input", src, "--output", "e", "--extra-body", '{"enable_thinking": false}',
              tmp_path=tmp_path, model="qwen3-vl-plus")  # fmt: skip
    assert res.returncode == 0 and "sent:" not in res.stdout, res.stderr
    assert server.stats()["invalid"] == 0 and load_output(tmp_path / "e")["vqa_reasoning"] == [None] * 3
    card = (tmp_path / "e" / "README.md").read_text()
    assert '"enable_thinking": false' in card
    base = build_request(None, [FakeImage("data:image/png;base64,AAAA", "ab")], model="m", prompt="p")
    keyed = build_request(None, [FakeImage("data:image/png;base64,AAAA", "ab")], model="m", prompt="p",
                          params={"enable_thinking": False}, image_detail="low")  # fmt: skip
    assert base.key != keyed.key and keyed.body["messages"][0]["content"][0]["image_url"]["detail"] == "low"


# -- vLLM -------------------------------------------------------------------------------------------


def test_vllm_image_limit_is_a_per_row_error_with_the_servers_message(tmp_path, make_mock_vlm) -> None:
    """vLLM's errors are ``{"object": "error", "message", "type", "param", "code"}`` and its default
    ``--limit-mm-per-prompt`` allows one image: "At most 1 image(s) may be provided in one request."
    (https://github.com/vllm-project/vllm/issues/13397, https://github.com/vllm-project/vllm/issues/13513).
    With a reasoning parser the reply carries ``reasoning_content``
    (https://docs.vllm.ai/en/latest/features/reasoning_outputs.html)."""
    server = make_mock_vlm(profile="vllm")
    rows = json.loads(records(tmp_path, 4).read_text()) + json.loads(
        records(tmp_path, 1, images_per_row=2).read_text()
    )
    (tmp_path / "mixed.json").write_text(json.dumps(rows))
    res = cli(server, "image-vqa", "--input", tmp_path / "mixed.json", "--output", "v", tmp_path=tmp_path,
              model="Qwen/Qwen2.5-VL-7B-Instruct")  # fmt: skip
    assert res.returncode == 0, res.stderr  # some rows succeeded
    assert "succeeded=4 failed=1" in res.stdout
    out = load_output(tmp_path / "v")
    assert (
        out["vqa_error"][4]
        == "HTTP 400 after 1 attempt(s): At most 1 image(s) may be provided in one request."
    )
    assert server.stats()["invalid"] == 1  # not retried
    assert all(r for r in out["vqa_reasoning"][:4])


def test_every_row_failing_exits_non_zero_and_the_same_400_everywhere_stops_the_run(tmp_path, make_mock_vlm):
    """A run where every row failed is not a success; a 400 that every request gets stops the run."""
    server = make_mock_vlm(profile="vllm")
    res = cli(server, "image-vqa", "--input", records(tmp_path, 3, images_per_row=2), "--output", "f.json",
              tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 1 and "every row failed (3)" in res.stderr
    server.reset()
    src = records(tmp_path, 60, images_per_row=2, name="many.json")
    res = cli(
        server, "image-vqa", "--input", src, "--output", "g.json", "--max-concurrency", "2", tmp_path=tmp_path
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "the first 8 requests all failed with the same HTTP 400" in res.stderr
    assert "At most 1 image(s)" in res.stderr and server.stats()["requests"] < 20


# -- gateways ---------------------------------------------------------------------------------------


def test_gateway_200_with_error_is_retried_and_think_blocks_are_kept_apart(tmp_path, make_mock_vlm) -> None:
    """OpenRouter: "the returned HTTP response status will be 200 and any error occurred while the LLM is
    producing the output will be emitted in the response body" (https://openrouter.ai/docs/api/reference/errors-and-debugging);
    models served without a reasoning parser put a leading ``<think>…</think>`` in ``content``."""
    server = make_mock_vlm(profile="gateway")
    res = cli(server, "image-vqa", "--input", records(tmp_path, 6), "--output", "w", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "succeeded=6 failed=0 parse_failed=0" in res.stdout
    out = load_output(tmp_path / "w")
    assert all("<think>" not in v and v.startswith("Q") for v in out["vqa"])
    assert all(r.startswith("Looking at the image") for r in out["vqa_reasoning"])
    assert sum(u["attempts"] - 1 for u in out["vqa_usage"]) >= 2  # the 200-with-error replies were retried


@pytest.mark.parametrize("profile", ["openai", "vllm", "gateway"])
def test_wrong_key_stops_the_run_after_one_request_with_one_line(tmp_path, make_mock_vlm, profile) -> None:
    """A 401 stops the run: nothing more is sent, exit non-zero, the server's message and the fix,
    never the key. vLLM answers ``{"error": "Unauthorized"}``; gateways may answer plain text."""
    server = make_mock_vlm(profile=profile, api_key="sk-the-right-key-000")
    res = cli(server, "image-vqa", "--input", records(tmp_path, 200), "--output", "k.json", tmp_path=tmp_path,
              env={"OPENAI_API_KEY": "sk-the-WRONG-key-999"})  # fmt: skip
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "HTTP 401" in lines[0] and "$OPENAI_API_KEY" in lines[0], res.stderr
    assert "sk-the-WRONG-key-999" not in res.stdout + res.stderr
    assert server.stats()["requests"] == 1


# -- the pieces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "bad temp", "type": "invalid_request_error", "param": "temperature"}}', "bad temp"),
        (b'{"object": "error", "message": "too long", "type": "BadRequestError", "param": null, "code": 400}',
         "too long"),
        (b'{"code": "InvalidParameter", "message": "url error", "request_id": "x"}', "url error"),
        (b'[{"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}]',
         "Invalid JSON payload"),
        (b'{"error": "Unauthorized"}', "Unauthorized"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b"upstream connect error or disconnect/reset before headers", "upstream connect error or disconnect/reset before headers"),
        (b"<html><body>502</body></html>", "Bad Gateway"),
    ],
)  # fmt: skip
def test_error_bodies_of_every_shape(body: bytes, message: str) -> None:
    """OpenAI, vLLM, DashScope (https://help.aliyun.com/zh/model-studio/error-code), Gemini's list-wrapped
    errors, ``{"error": str}``, FastAPI's ``detail``, plain text and HTML."""
    assert error_info(body, "Bad Gateway").message == message
    with pytest.raises(Fatal, match=message):
        judge(Response(400, {}, body, "Bad Gateway"))


def test_a_200_holding_an_error_is_judged_by_its_code() -> None:
    with pytest.raises(Transient, match="Upstream"):
        judge(Response(200, {}, b'{"error": {"message": "Upstream down", "code": 502}}'))
    with pytest.raises(Fatal, match="no such model"):
        judge(Response(200, {}, b'{"error": {"message": "no such model", "code": 404}}'))


def test_stream_chunks_reasoning_and_errors() -> None:
    body = (b': keep-alive\n\ndata: {"choices":[{"delta":{"reasoning_content":"hm "}}]}\n\n'
            b'data: {"choices":[{"delta":{"reasoning_content":"ok"}}]}\n\n'
            b'data: {"choices":[{"delta":{"content":"Q: a?"},"finish_reason":"stop"}]}\n\n'
            b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}\n\ndata: [DONE]\n\n')  # fmt: skip
    reply = judge(Response(200, {"content-type": "text/event-stream"}, body))
    assert (reply.text, reply.reasoning, reply.prompt_tokens, reply.finish_reason) == (
        "Q: a?",
        "hm ok",
        7,
        "stop",
    )
    assert assemble(b'data: {"error": {"message": "overloaded", "code": 529}}\n\n') == {
        "error": {"message": "overloaded", "code": 529}
    }
    with pytest.raises(Transient, match="malformed"):
        judge(Response(200, {"content-type": "text/event-stream"}, b"data: {trunc"))
    assert split("<think>a</think>b") == ("b", "a") and split("b") == ("b", None)


def test_adaptations_are_shared_through_the_cache_folder(tmp_path) -> None:
    path = record_path(tmp_path, "http://h/v1", "m")
    Adaptations().add(Change("drop", "temperature")).save(path)
    other = Adaptations().add(Change("stream"))
    other.save(path)  # a second process merges its change into the record
    assert Adaptations.load(path).describe() == "no temperature, stream=true"
    assert Adaptations.load(path).apply({"model": "m", "temperature": 0}) == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert (
        change_for(error_info(b'{"error": {"message": "bad", "param": "messages"}}'), {"messages": []})
        is None
    )


def test_the_timeout_covers_the_whole_stream(tmp_path) -> None:
    """A stream that keeps sending keep-alive comments never trips a per-read timeout; `timeout`
    bounds the whole stream (SSE comments: https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    import asyncio
    import threading

    from hf_vqa import VLM
    from hf_vqa.engine.client import get_engine

    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(100):  # bounded: at most 20 s, far beyond the 1 s timeout
                writer.write(b"e\r\n: keep-alive\n\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        stop.append(asyncio.Event())
        server = await asyncio.start_server(trickle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        started.set()
        await stop[0].wait()
        server.close()
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    started.wait(10)
    try:
        vlm = VLM(model="m", base_url=f"http://127.0.0.1:{port[0]}/v1", api_key_env="", stream=True, timeout=1.0,
                  max_retries=0, cache_dir=str(tmp_path))  # fmt: skip
        reply = get_engine(vlm).submit("k", {"model": "m", "messages": [], "stream": True}).result(15)
        assert reply.text is None and "deadline for the whole reply" in reply.error, reply
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
