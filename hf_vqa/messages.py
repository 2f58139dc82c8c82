"""Conversation + images + prompts → an OpenAI chat-completions request. Pure: no I/O.

A sharegpt-style turn is `{"from": "human" | "gpt" | "system", "value": str}`. Images go where
`<image>` placeholders stand (the placeholder is removed from the text); with no placeholder at all,
they go at the start of the first user turn. Trailing assistant turns are dropped: the model
answers the last human turn.

Example:
    >>> req = build_request(
    ...     [{"from": "human", "value": "<image>\\nWhat is shown?"}],
    ...     [FakeImage("data:image/png;base64,AAAA", "ab12")],
    ...     model="m",
    ... )
    >>> req.body["messages"][0]["content"][0]["type"]
    'image_url'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hf_vqa.errors import InputError, MissingInstruction

IMAGE_TOKEN = "<image>"
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class ImageLike(Protocol):
    data_url: str
    sha256: str


@dataclass(frozen=True)
class FakeImage:
    """A stand-in for `images.PreparedImage` in docs and tests."""

    data_url: str
    sha256: str


_SLOT = "@hf_vqa:image:{}@"


@dataclass(frozen=True)
class Request:
    """A ready request: `template` (the body with a placeholder per image), the images' data URLs
    (`image_data`: each as ASCII bytes, in pieces), and `key`, a hash of everything that determines
    the answer.

    `payload()` gives the JSON bytes to send without re-encoding the (large, escape-free) base64
    data: the small template is serialized and the data URLs' bytes are joined in, copied once.
    """

    template: dict
    image_data: tuple[tuple[bytes, ...], ...]
    key: str

    @property
    def image_urls(self) -> tuple[str, ...]:
        """The images' data URLs, as text."""
        return tuple(b"".join(pieces).decode("ascii") for pieces in self.image_data)

    @property
    def body(self) -> dict:
        """The full request body as a dict (for inspection and tests; the engine sends `payload()`)."""
        return json.loads(self.payload())

    def payload(self, template: dict | None = None) -> bytes:
        """The JSON bytes to send; `template` replaces `self.template` (the engine passes the body it
        adapted to what the endpoint accepts, with the same image placeholders)."""
        data = json.dumps(self.template if template is None else template, ensure_ascii=False,
                          separators=(",", ":")).encode()  # fmt: skip
        if not self.image_data:
            return data
        pieces = data.split(b'"@hf_vqa:image:')
        out = [pieces[0]]
        for piece in pieces[1:]:
            index, rest = piece.split(b'@"', 1)
            out += [b'"', *self.image_data[int(index)], b'"', rest]
        return b"".join(out)


def build_request(
    conversation: Sequence[dict] | None,
    images: Sequence[ImageLike],
    *,
    model: str,
    params: dict | None = None,
    system_prompt: str | None = None,
    prompt: str | None = None,
    response_format: dict | None = None,
    endpoint: str = "",
    image_detail: str | None = None,
) -> Request:
    """Build the chat-completions body and its store key.

    `prompt` is the instruction for rows whose conversation has no human turn. `system_prompt`
    replaces any system turn in the conversation. The key hashes the endpoint, model, params and
    messages with each image reduced to the hash of its bytes (the API key is never part of it);
    ``stream``/``stream_options`` are left out of it (they change the transport, not the answer).
    `image_detail` sets ``image_url.detail`` on every image.
    """
    turns = _normalize(conversation, prompt)
    messages: list[dict] = []
    skeleton: list[dict] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
        skeleton.append(messages[-1])
        turns = [t for t in turns if t[0] != "system"]
    placeholders = sum(text.count(IMAGE_TOKEN) for role, text in turns if role == "user")
    if placeholders and placeholders != len(images):
        raise InputError(
            f"the conversation has {placeholders} {IMAGE_TOKEN} placeholder(s) but the row has {len(images)} image(s)",
            fix=f"make the number of {IMAGE_TOKEN} placeholders match the images, or remove them all "
            "to put every image in the first user turn",
        )
    queue = list(images)
    urls: list[tuple[bytes, ...]] = []
    first_user = next(i for i, (role, _) in enumerate(turns) if role == "user")
    for i, (role, text) in enumerate(turns):
        if role != "user" or not (IMAGE_TOKEN in text or (i == first_user and not placeholders and queue)):
            messages.append({"role": role, "content": text})
            skeleton.append(messages[-1])
            continue
        parts, key_parts = _user_parts(text, queue, urls, all_first=not placeholders, detail=image_detail)
        messages.append({"role": "user", "content": parts})
        skeleton.append({"role": "user", "content": key_parts})
    body: dict[str, Any] = {"model": model, "messages": messages, **(params or {})}
    if response_format:
        body["response_format"] = response_format
    key_material = {"endpoint": endpoint.rstrip("/"), **body, "messages": skeleton}
    key_material.pop("stream", None)
    key_material.pop("stream_options", None)
    key = hashlib.sha256(json.dumps(key_material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return Request(template=body, image_data=tuple(urls), key=key)


def _normalize(conversation: Sequence[dict] | None, prompt: str | None) -> list[tuple[str, str]]:
    turns: list[tuple[str, str]] = []
    for n, turn in enumerate(conversation or []):
        if not isinstance(turn, dict) or "value" not in turn:
            raise InputError(
                f"conversation turn {n} is not a {{'from', 'value'}} object",
                received=turn,
                fix='use [{"from": "human", "value": "..."}]',
            )
        who = str(turn.get("from") or turn.get("role") or "").lower()
        if who not in ROLES:
            raise InputError(
                f"conversation turn {n} has an unknown speaker",
                received=who,
                fix="use from: human | gpt | system",
            )
        turns.append((ROLES[who], str(turn["value"] or "")))
    while turns and turns[-1][0] == "assistant":
        turns.pop()
    if not any(role == "user" for role, _ in turns):
        if not prompt:
            raise MissingInstruction(
                "the conversation has no human turn and no prompt was given",
                received=conversation,
                fix="add a {'from': 'human', 'value': ...} turn, or pass prompt=... (--prompt)",
            )
        turns.append(("user", prompt))
    return turns


def _url_pieces(image: ImageLike) -> tuple[bytes, ...]:
    """The image's data URL as ASCII bytes: `PreparedImage.url_pieces` when it has them (no text made)."""
    pieces = getattr(image, "url_pieces", None)
    return tuple(pieces()) if callable(pieces) else (image.data_url.encode("ascii"),)


def _user_parts(
    text: str,
    queue: list[ImageLike],
    urls: list[tuple[bytes, ...]],
    *,
    all_first: bool,
    detail: str | None = None,
) -> tuple[list[dict], list[dict]]:
    parts: list[dict] = []
    key_parts: list[dict] = []

    def add_image() -> None:
        image = queue.pop(0)
        image_url = {"url": _SLOT.format(len(urls))} | ({"detail": detail} if detail else {})
        parts.append({"type": "image_url", "image_url": image_url})
        urls.append(_url_pieces(image))
        key_parts.append({"type": "image", "sha256": image.sha256} | ({"detail": detail} if detail else {}))

    def add_text(chunk: str) -> None:
        if chunk.strip():
            parts.append({"type": "text", "text": chunk.strip()})
            key_parts.append(parts[-1])

    if all_first:
        while queue:
            add_image()
        add_text(text)
    else:
        pieces = text.split(IMAGE_TOKEN)
        for j, piece in enumerate(pieces):
            add_text(piece)
            if j < len(pieces) - 1:
                add_image()
    return parts, key_parts


def human_turn(conversation: Sequence[dict] | None) -> str | None:
    """The first human turn's text, `<image>` placeholders removed; None when there is none.

    Example:
        >>> human_turn([{"from": "system", "value": "Be brief."}, {"from": "human", "value": "<image> Why?"}])
        'Why?'
    """
    for turn in conversation or ():
        if (
            isinstance(turn, dict)
            and ROLES.get(str(turn.get("from") or turn.get("role") or "").lower()) == "user"
        ):
            return " ".join(str(turn.get("value") or "").replace(IMAGE_TOKEN, " ").split())
    return None


def instructions_sent(
    conversations: Iterable[Sequence[dict] | None], prompt: str | None, *, show: int = 5
) -> str:
    """What the rows sent as their instruction, for the card: `prompt` when no row had its own
    human turn; else the distinct instructions (first human turn, `<image>` removed) with counts.

    Example:
        >>> own = [{"from": "human", "value": "<image> What is it?"}]
        >>> print(instructions_sent([own, own, None], "Describe."))
        From each record's conversation (2 distinct), by rows:
        2 rows: What is it?
        1 row (no human turn, the prompt): Describe.
        >>> instructions_sent([None], "Describe.")
        'Describe.'
    """
    counts: dict[str | None, int] = {}  # None: no human turn, the prompt was sent
    for conversation in conversations:
        text = human_turn(conversation)
        counts[text] = counts.get(text, 0) + 1
    if set(counts) <= {None}:
        return prompt or ""
    lines = [f"From each record's conversation ({len(counts)} distinct), by rows:"]
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: first seen first among equals
    for text, n in ranked[:show]:
        rows = f"{n} row{'s' if n != 1 else ''}"
        lines.append(f"{rows} (no human turn, the prompt): {prompt}" if text is None else f"{rows}: {text}")
    if len(ranked) > show:
        lines.append(f"... and {len(ranked) - show} more distinct instructions")
    return "\n".join(lines)


__all__ = [
    "IMAGE_TOKEN",
    "ROLES",
    "FakeImage",
    "ImageLike",
    "Request",
    "build_request",
    "human_turn",
    "instructions_sent",
]
