"""Deterministic answers and request checks for the loopback mock VLM (`hf_vqa.mock_server`).

Every answer is computed from the request's images and prompt text, so a test can prove that row i's
answer came from row i's image: each image gets a tag ``"<W>x<H> rgb(<R>,<G>,<B>)"`` (size and mean
colour), and `parse_tags` finds those tags again in any answer. Also here: the server's `Settings`
(fault table) and the compiled OpenAI request-schema check (`request_validator`).

Example:
    >>> from PIL import Image
    >>> tag = image_tag(Image.new("RGB", (64, 48), (12, 200, 33)))
    >>> tag
    '64x48 rgb(12,200,33)'
    >>> parse_tags("A1: " + tag)
    [(64, 48, (12, 200, 33))]
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import io
import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from importlib import resources
from typing import Any

from PIL import Image, ImageFile, ImageStat

from hf_vqa.errors import ConfigError

FAULT_KINDS = ("429", "500", "503", "drop", "timeout", "malformed", "empty")
TAG_RE = re.compile(r"(\d+)x(\d+) rgb\((\d+),\s*(\d+),\s*(\d+)\)")
TOKENS_PER_IMAGE = 85
DRAFT_MIN_PIXELS = 256 * 256  # JPEGs at least this big decode at half scale (see `_decoded_info`)
OPENAI_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # what OpenAI's vision models accept
_STRICT_B64 = sys.version_info >= (3, 11)  # binascii strict mode: validates and is ~2x faster
_DATA_URL_RE = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,", re.ASCII)
_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
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

    def __post_init__(self) -> None:
        names = ("latency", "jitter", "fault_rate", "retry_after", "slow_seconds")
        values = {k: getattr(self, k) for k in names} | {f"faults[{k!r}]": v for k, v in self.faults.items()}
        bad = [
            k for k, v in values.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
        ]
        problems = [f"{k} must be a number >= 0" for k in bad]
        if unknown := sorted(set(self.faults) - set(FAULT_KINDS)):
            problems.append(f"unknown fault kind(s) {unknown}; use {list(FAULT_KINDS)}")
        elif not bad and sum(self.table().values()) > 1 + 1e-9:
            problems.append("fault probabilities (faults + fault_rate) sum to more than 1")
        if self.max_concurrent is not None and (
            type(self.max_concurrent) is not int or self.max_concurrent < 1
        ):
            problems.append("max_concurrent must be None or an int >= 1")
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
        return {k: self.faults.get(k, 0.0) + self.fault_rate / len(FAULT_KINDS) for k in FAULT_KINDS}


class _LongStr(str):
    """A long string (a base64 image) whose repr is short, so schema error messages stay cheap."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{self[:32]}...' ({len(self)} chars)"


def _wrap_long(obj: dict) -> dict:
    for key, value in obj.items():
        if type(value) is str and len(value) > 256:
            obj[key] = _LongStr(value)
    return obj


def loads_request(raw: bytes) -> Any:
    """`json.loads` for request bodies; long strings get a short repr. Example: ``loads_request(b'{}')``."""
    return json.loads(raw, object_hook=_wrap_long)


def request_key(body: Any) -> str:
    """sha256 of the canonical JSON (sorted keys) of a request: equal requests give equal keys.

    Long strings (base64 images) enter as their length and 64-bit ``hash()``: a few µs instead of
    re-encoding and hashing ~150 KB per request. Keys are only compared within one process.
    Example: ``request_key({"b": 1, "a": 2}) == request_key({"a": 2, "b": 1})`` → True.
    """

    def skeleton(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: skeleton(v) for k, v in node.items()}
        if isinstance(node, list):
            return [skeleton(v) for v in node]
        return f"\x00long:{len(node)}:{hash(node)}" if isinstance(node, _LongStr) else node

    text = json.dumps(skeleton(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_schema(name: str) -> dict:
    """The bundled OpenAI schema, ``name`` = ``"request"`` or ``"response"``: ``load_schema("response")``."""
    path = resources.files("hf_vqa").joinpath(f"data/create_chat_completion_{name}.schema.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _discriminated_one_of(schema: dict, one_of: Callable) -> Callable:
    """A `oneOf` keyword that, when every branch requires property P with disjoint string enums (a
    discriminator such as ``role`` or ``type``), validates only the branch the instance names. The
    other branches cannot match then, so the result is the same, ~25x faster, with clearer errors."""
    defs = schema.get("$defs", {})
    tables: dict[int, tuple[str, dict[str, int]]] = {}

    def resolve(branch: dict) -> dict:
        ref = branch.get("$ref", "")
        return defs.get(ref.rpartition("/")[2], {}) if ref.startswith("#/$defs/") else branch

    def table(branches: list) -> tuple[str, dict[str, int]] | None:
        resolved = [resolve(b) for b in branches]
        for prop in sorted(set.intersection(*(set(r.get("required", [])) for r in resolved))):
            enums = [r.get("properties", {}).get(prop, {}).get("enum") for r in resolved]
            if not all(isinstance(e, list) and all(isinstance(v, str) for v in e) for e in enums):
                continue
            values = [v for e in enums for v in e]
            if len(values) == len(set(values)):
                return prop, {v: i for i, e in enumerate(enums) for v in e}
        return None

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            branches = node.get("oneOf")
            if isinstance(branches, list) and len(branches) > 1 and (found := table(branches)):
                tables[id(branches)] = found
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)

    def fast_one_of(validator: Any, branches: list, instance: Any, subschema: dict) -> Any:
        found = tables.get(id(branches))
        if found is not None and isinstance(instance, dict):
            value = instance.get(found[0])
            index = found[1].get(value) if isinstance(value, str) else None
            if index is not None:
                yield from validator.descend(instance, branches[index], schema_path=index)
                return
        yield from one_of(validator, branches, instance, subschema)

    return fast_one_of


@functools.lru_cache(maxsize=1)
def request_validator() -> Callable[[Any], str | None]:
    """Compile the request schema once; the result maps a body to an error message or None.

    Example: ``request_validator()({"model": "m"})`` → ``"... 'messages' is a required property"``.
    """
    try:
        import jsonschema
    except ImportError:
        raise ConfigError(
            "the mock VLM validates every request with jsonschema, which is not installed",
            received="ImportError: jsonschema",
            fix="pip install 'hf_vqa[mock]'",
        ) from None
    schema = load_schema("request")
    cls = jsonschema.validators.validator_for(schema, default=None)  # the draft named by "$schema"
    if cls is None:
        raise ConfigError(
            "unknown JSON Schema draft", received=schema.get("$schema"), fix="use draft 2020-12"
        )
    cls.check_schema(schema)
    extended = jsonschema.validators.extend(
        cls, {"oneOf": _discriminated_one_of(schema, cls.VALIDATORS["oneOf"])}
    )
    validator = extended(schema)

    def validate(body: Any) -> str | None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(body))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"request does not match the OpenAI chat completion schema at {where}: {error.message[:300]}"

    return validate


class ImageRejected(ValueError):
    """An ``image_url`` part the mock refuses; the server turns it into an HTTP 400."""


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the mock "sees" in one image: size, mean RGB colour and the PIL format."""

    width: int
    height: int
    rgb: tuple[int, int, int]
    format: str

    @property
    def tag(self) -> str:
        r, g, b = self.rgb
        return f"{self.width}x{self.height} rgb({r},{g},{b})"


@dataclasses.dataclass(frozen=True)
class Completion:
    """One computed answer, before it is wrapped in an OpenAI response."""

    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    images: int


def image_info(img: Image.Image) -> ImageInfo:
    """Size and rounded mean RGB colour of `img`. Example: ``image_info(Image.new("L", (2, 2))).tag``."""
    mean = ImageStat.Stat(img if img.mode == "RGB" else img.convert("RGB")).mean
    r, g, b = (round(c) for c in mean[:3])
    return ImageInfo(img.width, img.height, (r, g, b), img.format or "")


def _decoded_info(img: ImageFile.ImageFile) -> ImageInfo:
    """Decode `img` fully and describe it (size, mean colour, format).

    JPEGs of at least `DRAFT_MIN_PIXELS` decode at half scale (libjpeg DCT scaling, ``draft``):
    every block is still entropy-decoded, so corrupt or truncated data still fails, but the smaller
    inverse DCT, colour conversion and histogram cost ~40% less. Each output pixel is the mean of a
    2x2 block, so the mean colour moves by at most ~2 levels (clamping and rounding) from full size.
    """
    width, height, fmt = img.width, img.height, img.format or ""
    if fmt == "JPEG" and width * height >= DRAFT_MIN_PIXELS:
        img.draft(None, (-(-width // 2), -(-height // 2)))
    img.load()
    info = image_info(img)
    return dataclasses.replace(info, width=width, height=height, format=fmt)


def image_tag(img: Image.Image) -> str:
    """The tag the mock writes for `img`: ``image_tag(Image.new("RGB", (4, 2)))`` → ``'4x2 rgb(0,0,0)'``."""
    return image_info(img).tag


def parse_tags(text: str) -> list[tuple[int, int, tuple[int, int, int]]]:
    """All image tags in `text`, in order: ``parse_tags("1x2 rgb(3,4,5)")`` → ``[(1, 2, (3, 4, 5))]``."""
    return [(int(w), int(h), (int(r), int(g), int(b))) for w, h, r, g, b in TAG_RE.findall(text)]


def prompt_id(user_text: str) -> str:
    """``"prompt-"`` + the first 8 hex digits of sha1(user text). Example: ``prompt_id("hi")``."""
    return "prompt-" + hashlib.sha1(user_text.encode("utf-8")).hexdigest()[:8]


def decode_data_url(url: str) -> ImageInfo:
    """Decode a ``data:image/<type>;base64,...`` URL fully with PIL, or raise `ImageRejected`.

    Example: ``decode_data_url("data:image/png;base64," + b64_png).tag``.
    """
    match = _DATA_URL_RE.match(url)
    if match is None:
        if url.startswith(("http://", "https://")):
            raise ImageRejected(f"mock server does not fetch URLs (received: {url[:100]}); send a data: URL")
        raise ImageRejected(f"image_url must be data:image/<type>;base64,... (received: {url[:60]!r})")
    data = url[match.end() :]
    try:
        raw = binascii.a2b_base64(data, strict_mode=True) if _STRICT_B64 else base64.b64decode(data, True)
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(f"image_url data is not valid base64: {exc}") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format not in OPENAI_FORMATS:
                raise ImageRejected(
                    f"like OpenAI, the mock accepts {OPENAI_FORMATS} images, not {img.format}"
                )
            info = _decoded_info(img)
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected(f"image_url data is not a readable image: {exc}") from None
    declared = _MIME_ALIASES.get(match.group(1).lower(), match.group(1).lower())
    actual = Image.MIME.get(info.format, f"image/{info.format.lower()}")
    if declared != actual:
        raise ImageRejected(f"data URL says {declared} but the bytes are {info.format} ({actual})")
    return info


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


def build_content(images: list[ImageInfo], user_text: str, *, context: bool, json_mode: bool) -> str:
    """The full (untruncated) answer text for a request.

    Example:
        >>> print(build_content([], "hi", context=False, json_mode=False))
        Q1: Which prompt was I given?
        A1: prompt-c22b5f91
    """
    pid = prompt_id(user_text)
    if not context:
        pairs = _vqa_pairs(images, pid)
        if json_mode:
            return json.dumps({"qas": [{"question": q, "answer": a} for q, a in pairs]})
        return "\n".join(f"Q{i}: {q}\nA{i}: {a}" for i, (q, a) in enumerate(pairs, 1))
    digest = hashlib.sha1((user_text + "|" + "|".join(i.tag for i in images)).encode("utf-8")).digest()
    seed = int.from_bytes(digest[:4], "big")
    article, pairs = _context(images, pid, seed)
    if json_mode:
        return json.dumps({"context": article, "qas": [{"question": q, "answer": a} for q, a in pairs]})
    return _render_context(article, pairs, digest[4] % 3)


def complete(body: dict[str, Any]) -> Completion:
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
    context = "wikipedia" in "\n".join(all_text).lower()
    content = build_content(
        images, "".join(user_text), context=context, json_mode=fmt in ("json_object", "json_schema")
    )
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
