"""Provider profiles for the mock VLM: the documented quirks of real OpenAI-compatible endpoints.

``MockVLM(profile=...)`` / ``python -m hf_vqa.mock.server --profile ...``:

- ``openai`` (default): OpenAI's schema to the letter; ``stream=true`` is served as server-sent events.
- ``openai-reasoning``: OpenAI's GPT-5 family and o-series. ``temperature``/``top_p`` other than 1
  → 400 ``unsupported_value``; ``max_tokens`` → 400 ``unsupported_parameter`` ("Use
  'max_completion_tokens' instead."); ``reasoning_effort`` must be minimal/low/medium/high.
- ``stream-only-thinking``: a DashScope/ModelScope thinking model (QVQ, Qwen3 thinking). Without
  ``stream=true`` → 400 in DashScope's ``{"code", "message", "request_id"}`` shape, unless
  ``enable_thinking: false`` is sent; streams carry ``reasoning_content`` deltas before the answer.
- ``vllm``: vLLM's OpenAI server. Errors are ``{"object": "error", "message", "type", "param",
  "code"}``; more than one image → 400 "At most 1 image(s) may be provided in one request." (the
  default ``--limit-mm-per-prompt``); a reasoning parser puts ``reasoning_content`` in the message;
  a wrong key → 401 ``{"error": "Unauthorized"}``.
- ``no-structured``: an endpoint without structured outputs (DeepSeek's API, older vLLM builds): a
  ``response_format`` of type ``json_schema`` → 400 ``unsupported_parameter`` naming it.
- ``gateway``: an aggregating gateway. Every third request answers 200 with an ``error`` object
  (an upstream failure); answers start with an inline ``<think>…</think>`` block; auth errors are plain text;
  a ``response_format`` of type ``json_schema`` → 400 (its upstream takes ``json_object`` only).

Structured replies (``response_format: json_schema``): ``openai``, ``openai-reasoning`` and ``vllm``
(guided decoding) answer in JSON; ``stream-only-thinking`` rejects it while thinking (DashScope: no
structured output in thinking mode) and ``gateway`` rejects the ``json_schema`` type.

Example:
    >>> reject("openai-reasoning", {"model": "m", "messages": [], "max_tokens": 5})[1]["error"]["param"]
    'max_tokens'
    >>> reject("openai", {"model": "m", "messages": [], "max_tokens": 5}) is None
    True
"""

from __future__ import annotations

import json
import uuid

__all__ = ["PROFILES", "auth_error", "error", "reject", "render"]

PROFILES = ("openai", "openai-reasoning", "stream-only-thinking", "vllm", "gateway", "no-structured")
STREAM_ONLY = "This model only support stream mode, please enable the stream parameter to access the model."
REASONING = "Looking at the image first: its colours and shapes decide what can be asked."


def error(profile: str, status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    """An error body in `profile`'s own shape."""
    if profile == "vllm":
        return {
            "object": "error",
            "message": message,
            "type": "BadRequestError",
            "param": param,
            "code": status,
        }
    if profile == "stream-only-thinking":
        return {"code": code or "InvalidParameter", "message": message, "request_id": uuid.uuid4().hex}
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def auth_error(profile: str) -> tuple[bytes, str]:
    """The 401 body and content type `profile` answers a wrong key with."""
    if profile == "vllm":
        return json.dumps({"error": "Unauthorized"}).encode(), "application/json"
    if profile == "gateway":
        return b"Unauthorized: invalid or expired token", "text/plain"
    message = "Incorrect API key provided to the mock VLM"
    return json.dumps(error(profile, 401, message, "invalid_api_key")).encode(), "application/json"


def _count_images(body: dict) -> int:
    return sum(
        1
        for m in body.get("messages") or []
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "image_url"
    )


def reject(profile: str, body: dict) -> tuple[int, dict] | None:
    """`(status, error body)` when `profile` refuses a schema-valid `body`, else None."""
    if profile == "openai-reasoning":
        for name in ("temperature", "top_p"):
            value = body.get(name)
            if value is not None and value != 1:
                message = (f"Unsupported value: '{name}' does not support {value!r} with this model. "
                           "Only the default (1) value is supported.")  # fmt: skip
                return 400, error(profile, 400, message, "unsupported_value", name)
        if "max_tokens" in body:
            message = ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                       "Use 'max_completion_tokens' instead.")  # fmt: skip
            return 400, error(profile, 400, message, "unsupported_parameter", "max_tokens")
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in ("minimal", "low", "medium", "high"):
            message = f"Unsupported value: 'reasoning_effort' does not support {effort!r} with this model."
            return 400, error(profile, 400, message, "unsupported_value", "reasoning_effort")
    if (
        profile == "stream-only-thinking"
        and not body.get("stream")
        and body.get("enable_thinking") is not False
    ):
        return 400, error(profile, 400, STREAM_ONLY, "InvalidParameter")
    fmt = (body.get("response_format") or {}).get("type")
    if profile == "no-structured" and fmt == "json_schema":
        message = (
            "Unsupported parameter: 'response_format' of type json_schema is not supported with this model."
        )
        return 400, error(profile, 400, message, "unsupported_parameter", "response_format")
    fmt = (body.get("response_format") or {}).get("type")
    if (
        fmt == "json_schema"
        and profile == "stream-only-thinking"
        and body.get("enable_thinking") is not False
    ):
        message = (
            "<400> InternalError.Algo.InvalidParameter: response_format is not supported in thinking mode"
        )
        return 400, error(profile, 400, message, "InvalidParameter")
    if fmt == "json_schema" and profile == "gateway":
        message = (
            "Upstream provider error: response_format type 'json_schema' is not supported, use 'json_object'"
        )
        return 400, error(profile, 400, message, "unsupported_parameter", "response_format")
    if profile == "vllm" and _count_images(body) > 1:
        return 400, error(profile, 400, "At most 1 image(s) may be provided in one request.")
    return None


def render(profile: str, body: dict, response: dict, serial: int) -> tuple[int, bytes, str]:
    """`(status, body bytes, content type)` for a successful chat.completion `response` as `profile`
    serves it; `serial` counts this server's answers (the gateway fails every third)."""
    thinking = profile == "stream-only-thinking" and body.get("enable_thinking") is not False
    message = response["choices"][0]["message"]
    if profile == "gateway":
        if serial % 3 == 2:
            upstream = {"error": {"message": "Upstream provider returned an error (502)", "code": 502}}
            return 200, json.dumps(upstream).encode(), "application/json"
        for choice in response["choices"]:
            choice["message"]["content"] = (
                f"<think>\n{REASONING}\n</think>\n\n" + choice["message"]["content"]
            )
    if profile == "vllm" or thinking:
        for choice in response["choices"]:
            choice["message"]["reasoning_content"] = REASONING
    if profile == "openai-reasoning":
        response["usage"]["completion_tokens_details"] = {"reasoning_tokens": 64}
    if not body.get("stream"):
        return 200, json.dumps(response).encode(), "application/json"
    del message
    return 200, _events(body, response), "text/event-stream"


def _events(body: dict, response: dict) -> bytes:
    """`response` as server-sent events: reasoning deltas, content deltas of a few words, the
    finish reason, then a usage chunk when ``stream_options.include_usage`` was asked for."""
    base = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"],
            "model": response["model"]}  # fmt: skip
    chunks: list[dict] = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    message = response["choices"][0]["message"]
    for piece in _pieces(message.get("reasoning_content") or ""):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"reasoning_content": piece}}]})
    for piece in _pieces(message.get("content") or ""):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
    finish = response["choices"][0]["finish_reason"]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": response["usage"]})
    lines = [f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def _pieces(text: str, words: int = 4) -> list[str]:
    """`text` cut into deltas of a few words each (whitespace kept, so joining gives `text` back)."""
    if not text:
        return []
    tokens = text.split(" ")
    return [" ".join(tokens[i : i + words]) + (" " if i + words < len(tokens) else "")
            for i in range(0, len(tokens), words)]  # fmt: skip
