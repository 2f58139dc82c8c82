"""Deterministic answers and request checks for the loopback mock VLM (`hf_vqa.mock.server`).

Every answer is computed from the request's images and prompt text, so a test can prove that row i's
answer came from row i's image: each image gets a tag ``"<W>x<H> rgb(<R>,<G>,<B>)"`` (size and mean
colour; images are checked and decoded in `hf_vqa.mock.images`), and `parse_tags` finds those tags
again in any answer. Also here: the server's `Settings` (fault table). Request parsing and the schema
check are in `hf_vqa.mock.requests`.

Example:
    >>> from PIL import Image
    >>> tag = image_tag(Image.new("RGB", (64, 48), (12, 200, 33)))
    >>> tag
    '64x48 rgb(12,200,33)'
    >>> parse_tags("A1: " + tag)
    [(64, 48, (12, 200, 33))]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
import uuid
from typing import Any

from hf_vqa.errors import ConfigError
from hf_vqa.languages import LANGUAGE_PROMPTS, language_of
from hf_vqa.mock import judge, reformat
from hf_vqa.mock import languages as mock_languages
from hf_vqa.mock.hostile import HOSTILE_KINDS
from hf_vqa.mock.images import ImageInfo, decode_data_url
from hf_vqa.mock.images import image_tag as image_tag  # re-exported (benchmarks, tests)
from hf_vqa.mock.images import parse_tags as parse_tags
from hf_vqa.mock.requests import load_schema as load_schema
from hf_vqa.mock.requests import request_validator as request_validator

FAULT_KINDS = ("429", "500", "503", "drop", "timeout", "malformed", "empty")
TOKENS_PER_IMAGE = 85
_WORD_RE = re.compile(r"\S+")
_NAMES = ["Halden", "Marlow", "Quillon", "Ostrava", "Tessel", "Brennick", "Caldera", "Wrenfield"]
_PLACES = [
    ("Hexford", "Lindenport"),
    ("Marrow Bay", "Coldwater"),
    ("Eastvale", "Port Aster"),
    ("Tallinmoor", "Ambermoor"),
]
_CATALOGUERS = ["the Loopback Institute", "the Kestrel Survey", "the Harlow Archive", "the Meridian Society"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """What `MockVLM.configure` can change. ``Settings(fault_rate=0.7).table()["500"]`` → 0.1."""

    latency: float = 0.0
    jitter: float = 0.0
    faults: dict[str, float] = dataclasses.field(default_factory=dict)
    fault_rate: float = 0.0
    retry_after: float = 1.0
    slow_seconds: float = 30.0
    max_concurrent: int | None = None
    profile: str = "openai"  # a provider's documented quirks (`hf_vqa.mock.profiles`)
    prose_rate: float = 0.0  # this share of requests (chosen by their text, so always the same ones) get
    # their pairs written as prose no parser reads ("The answer to «Q» is «A»."): for `--repair-parse`

    def __post_init__(self) -> None:
        names = ("latency", "jitter", "fault_rate", "retry_after", "slow_seconds", "prose_rate")
        values = {k: getattr(self, k) for k in names} | {f"faults[{k!r}]": v for k, v in self.faults.items()}
        bad = [
            k for k, v in values.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
        ]
        problems = [f"{k} must be a number >= 0" for k in bad]
        if unknown := sorted(set(self.faults) - set(FAULT_KINDS) - set(HOSTILE_KINDS)):
            problems.append(f"unknown fault kind(s) {unknown}; use {list(FAULT_KINDS + HOSTILE_KINDS)}")
        elif not bad and sum(self.table().values()) > 1 + 1e-9:
            problems.append("fault probabilities (faults + fault_rate) sum to more than 1")
        if self.max_concurrent is not None and (
            type(self.max_concurrent) is not int or self.max_concurrent < 1
        ):
            problems.append("max_concurrent must be None or an int >= 1")
        from hf_vqa.mock.profiles import PROFILES

        if self.profile not in PROFILES:
            problems.append(f"unknown profile {self.profile!r}; use one of {list(PROFILES)}")
        if problems:
            fix = "e.g. MockVLM(latency=0.2, faults={'500': 0.1}, max_concurrent=8)"
            raise ConfigError("bad mock VLM settings: " + "; ".join(problems), received=self, fix=fix)

    def pick(self, draw: float) -> str | None:
        """The fault kind for a uniform `draw` in [0, 1), or None for a normal answer."""
        edge = 0.0
        for kind, probability in self.table().items():
            edge += probability
            if draw < edge:
                return kind
        return None

    def table(self) -> dict[str, float]:
        """Probability of each fault kind: ``faults`` plus ``fault_rate`` spread evenly over the 7 kinds."""
        table = {k: self.faults.get(k, 0.0) + self.fault_rate / len(FAULT_KINDS) for k in FAULT_KINDS}
        return table | {k: self.faults[k] for k in HOSTILE_KINDS if k in self.faults}  # never in fault_rate


@dataclasses.dataclass(frozen=True)
class Completion:
    """One computed answer, before it is wrapped in an OpenAI response."""

    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    images: int


def prompt_id(user_text: str) -> str:
    """``"prompt-"`` + the first 8 hex digits of sha1(user text). Example: ``prompt_id("hi")``."""
    return "prompt-" + hashlib.sha1(user_text.encode("utf-8")).hexdigest()[:8]


def count_words(text: str) -> int:
    """Whitespace-separated words: ``count_words("a b\\nc")`` → 3."""
    return len(text.split())


def truncate_words(text: str, limit: int) -> tuple[str, bool]:
    """Keep the first `limit` words: ``truncate_words("a b c", 2)`` → ``("a b", True)``."""
    ends = [m.end() for m in _WORD_RE.finditer(text)]
    if len(ends) <= limit:
        return text, False
    return (text[: ends[limit - 1]] if limit > 0 else ""), True


def _vqa_pairs(images: list[ImageInfo], pid: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for i, info in enumerate(images, 1):
        pairs.append((f"What are the dimensions and colour of image {i}?", info.tag))
        pairs.append((f"Is image {i} wider than it is tall?", "yes" if info.width > info.height else "no"))
    pairs.append(("Which prompt was I given?", pid))
    return pairs


def _context(images: list[ImageInfo], pid: str, seed: int) -> tuple[str, list[tuple[str, str]]]:
    name = f"{_NAMES[seed % len(_NAMES)]} Collection"
    first, second = _PLACES[(seed >> 4) % len(_PLACES)]
    who = _CATALOGUERS[(seed >> 8) % len(_CATALOGUERS)]
    year = str(1900 + (seed >> 12) % 120)
    n = len(images)
    parts = [
        f"The {name} is a set of {n} synthetic image{'s' if n != 1 else ''} catalogued by {who} in {year}."
    ]
    pairs = []
    for i, info in enumerate(images, 1):
        shape = "wider than it is tall" if info.width > info.height else "not wider than it is tall"
        parts.append(f"Image {i} of the collection measures {info.tag} and is {shape}.")
        pairs.append((f"What are the dimensions and colour of image {i} in the {name}?", info.tag))
    parts.append(f"The collection was first exhibited in {first} and {second}, under the reference {pid}.")
    pairs += [
        (f"Who catalogued the {name}?", who),
        (f"In which year was the {name} catalogued?", year),
        (f"In which two places was the {name} first exhibited?", f"{first}, {second}"),
        (f"Under which reference was the {name} exhibited?", pid),
    ]
    return " ".join(parts), pairs


def _render_context(article: str, pairs: list[tuple[str, str]], layout: int) -> str:
    if layout == 0:
        qas = [f"{i}. **Question:** {q} **Answer:** {a}" for i, (q, a) in enumerate(pairs, 1)]
        return "## Wikipedia Article\n\n" + article + "\n\n## Question-Answer Pairs\n\n" + "\n".join(qas)
    if layout == 1:
        qas = [f"Q{i}: {q}\nA{i}: {a}" for i, (q, a) in enumerate(pairs, 1)]
        return "**Wikipedia Article:**\n" + article + "\n\n" + "\n".join(qas)
    qas = [f"Question: {q}\nAnswer: {a}" for q, a in pairs]
    return "Article: " + article + "\n\n" + "\n\n".join(qas)


def build_content(
    images: list[ImageInfo],
    user_text: str,
    *,
    context: bool,
    json_mode: bool,
    language: str | None = None,
    prose: bool = False,
) -> str:
    """The full (untruncated) answer text for a request: in `language` (a code of `hf_vqa.languages`)
    when given; pairs written as unreadable prose when `prose`.

    Example:
        >>> print(build_content([], "hi", context=False, json_mode=False))
        Q1: Which prompt was I given?
        A1: prompt-c22b5f91
    """
    pid = prompt_id(user_text)
    if language and not context:
        pairs = mock_languages.vqa_pairs(language, [(i.tag, i.width > i.height) for i in images], pid)
    if not context:
        pairs = pairs if language else _vqa_pairs(images, pid)
        if prose and not json_mode:
            return reformat.prose(pairs)
        if language and not json_mode:
            return mock_languages.render_vqa(language, pairs)
        if json_mode:
            return json.dumps({"qas": [{"question": q, "answer": a} for q, a in pairs]})
        return "\n".join(f"Q{i}: {q}\nA{i}: {a}" for i, (q, a) in enumerate(pairs, 1))
    digest = hashlib.sha1((user_text + "|" + "|".join(i.tag for i in images)).encode("utf-8")).digest()
    seed = int.from_bytes(digest[:4], "big")
    if language:
        facts = {"name": _NAMES[seed % len(_NAMES)], "who": _CATALOGUERS[(seed >> 8) % len(_CATALOGUERS)],
                 "year": str(1900 + (seed >> 12) % 120), "pid": pid}  # fmt: skip
        facts["first"], facts["second"] = _PLACES[(seed >> 4) % len(_PLACES)]
        return mock_languages.render_context(language, facts, [i.tag for i in images], as_json=json_mode)
    article, pairs = _context(images, pid, seed)
    if prose and not json_mode:
        return article + "\n\n" + reformat.prose(pairs)
    if json_mode:
        return json.dumps({"context": article, "qas": [{"question": q, "answer": a} for q, a in pairs]})
    return _render_context(article, pairs, digest[4] % 3)


def complete(body: dict[str, Any], prose_rate: float = 0.0) -> Completion:
    """Answer a schema-valid chat completion request body; raises `ImageRejected` for a bad image.

    Example: ``complete({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).content``.
    """
    user_text, all_text, images, prompt_words = [], [], [], 0
    for message in body["messages"]:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for part in parts:
            if part.get("type") == "text":
                prompt_words += count_words(part["text"])
                if message["role"] in ("user", "system", "developer"):
                    all_text.append(part["text"])
                if message["role"] == "user":
                    user_text.append(part["text"])
            elif part.get("type") == "image_url" and message["role"] == "user":
                images.append(decode_data_url(part["image_url"]["url"]))
    fmt = (body.get("response_format") or {}).get("type")
    json_mode = fmt in ("json_object", "json_schema")
    system = "\n".join(t for t in all_text if t not in user_text)
    text = "\n".join(all_text)
    language = language_of(text)
    if judge.is_judge(system):  # hf_vqa's verify pass: an honest judge (`mock/judge.py`)
        content = judge.judge_content(images, "\n".join(user_text), json_mode=json_mode)
    elif judge.is_blind(system) and not images:  # the blind pass: the question alone
        content = judge.blind_answer("".join(user_text))
    elif (repaired := reformat.repair("".join(user_text))) is not None:  # --repair-parse
        content = repaired
    else:
        context = "wikipedia" in text.lower() or bool(
            language and LANGUAGE_PROMPTS[language].context[:40] in text
        )
        prose = reformat.is_prose("".join(user_text), [i.tag for i in images], prose_rate)
        content = build_content(images, "".join(user_text), context=context, language=language,
                                json_mode=json_mode, prose=prose)  # fmt: skip
    limit = body.get("max_completion_tokens")
    limit = body.get("max_tokens") if limit is None else limit
    truncated = False
    if limit is not None:
        content, truncated = truncate_words(content, max(limit, 0))
    return Completion(
        content=content,
        finish_reason="length" if truncated else "stop",
        prompt_tokens=prompt_words + TOKENS_PER_IMAGE * len(images),
        completion_tokens=count_words(content),
        images=len(images),
    )


def completion_response(body: dict[str, Any], completion: Completion) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` object for `completion` (one choice per ``n``), model echoed.

    Example: ``completion_response(body, complete(body))["choices"][0]["message"]["content"]``.
    """
    message = {"role": "assistant", "content": completion.content, "refusal": None}
    choice = {"message": message, "finish_reason": completion.finish_reason, "logprobs": None}
    usage = {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": i, **choice} for i in range(body.get("n") or 1)],
        "usage": {**usage, "total_tokens": completion.prompt_tokens + completion.completion_tokens},
    }


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object: ``error_body("bad")["error"]["type"]`` → ``"invalid_request_error"``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


__all__ = [
    "FAULT_KINDS",
    "TOKENS_PER_IMAGE",
    "Completion",
    "Settings",
    "build_content",
    "complete",
    "completion_response",
    "count_words",
    "error_body",
    "prompt_id",
    "truncate_words",
]
