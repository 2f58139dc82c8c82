"""`VLM`: plain, picklable settings for an OpenAI-compatible vision-language model endpoint.

A `VLM` holds no live client and no API key: it goes into `fn_kwargs` of `datasets.Dataset.map`,
where `datasets` hashes it into the cache fingerprint. The key is read from the environment
variable named by `api_key_env`, inside each worker, at request time.

Example:
    >>> vlm = VLM(model="gpt-4o-mini", base_url="https://api.openai.com/v1", max_concurrency=32)
    >>> vlm.host
    'api.openai.com'
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hf_vqa.errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "VLM", "cache_folder", "public_url"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def cache_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """THE folder for hf_vqa's own files (request store, job manifest, rate-limit buckets, progress).

    `cache_dir` if given, else `$HF_VQA_CACHE`, else `$HF_HOME/hf_vqa`, else
    `~/.cache/huggingface/hf_vqa`. Every other module asks this function (or `VLM.cache_folder`).

    Example:
        >>> cache_folder("/tmp/c").as_posix()
        '/tmp/c'
    """
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("HF_VQA_CACHE"):
        return Path(os.environ["HF_VQA_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(hf_home) / "hf_vqa"


def _default_base_url() -> str:
    return os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL


@dataclass(frozen=True)
class VLM:
    """Where and how to call the model. Every field is plain data, so it pickles and hashes stably.

    Fields that change the answer (base_url, model, temperature, max_tokens, top_p, seed,
    reasoning_effort, extra_body, image_detail, image caps) are part of the request-store key; the
    others only change how requests are sent. `temperature=None` leaves it out of the request.

    `response_format` (a JSON-able dict such as ``{"type": "json_schema", "json_schema": {...}}``, or
    None) is sent with every request and is part of the request-store key; an endpoint that rejects it
    gets free-text requests for the rest of the run (`engine.adapt`). `structured=True` fills it with
    the pipeline's JSON schema (`PipelineSpec.json_format`) when `run_pipeline` starts.

    `stream=True` asks for server-sent events (``stream: true`` with usage in the last chunk).
    `extra_body` (a dict, or its JSON text) is merged into every request, for provider-specific
    fields such as ``{"enable_thinking": false}`` or vLLM's ``{"top_k": 20}``; it is kept as
    canonical JSON text, so a `VLM` stays hashable. `image_detail` sets OpenAI's
    ``image_url.detail`` (``low``, ``high`` or ``auto``).

    `timeout` is a deadline for a whole request (connect, headers and body); a reply body larger than
    `max_reply_bytes` is a final per-row error and nothing of it is kept.

    `max_retries` caps retries of errors (5xx, timeouts, dropped connections, malformed replies).
    A 429 is different: the server asks us to wait, so it is retried, honouring Retry-After, for up
    to `rate_limit_wait` seconds per row without using up `max_retries`. When the endpoint is down
    (the requests in flight all get no answer or a 5xx), every row pauses together and the run gives
    up after `give_up_after` seconds without an answer (`engine/outage.py`), keeping what is done.
    """

    model: str = "gpt-4o-mini"
    base_url: str = field(default_factory=_default_base_url)
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 16
    timeout: float = 60.0
    max_retries: int = 6
    rate_limit_wait: float = 600.0
    temperature: float | None = None  # not sent: the endpoint's default (reasoning models reject others)
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    extra_body: str | dict | None = None
    image_detail: str | None = None
    stream: bool = False
    max_image_side: int = 2048
    max_image_pixels: int = 2048 * 2048
    rpm: int | None = None
    tpm: int | None = None
    allow_private_urls: bool = False
    url_timeout: float = 10.0
    cache_dir: str | None = None
    use_store: bool = True
    rate_scope: str = ""  # processes with the same scope share one rpm/tpm bucket (Ray shards: one each)
    max_reply_bytes: int = 8 * 1024 * 1024
    response_format: dict | None = field(default=None, hash=False)  # compared, not hashed (a dict)
    structured: bool = False
    give_up_after: float = 180.0  # seconds without any answer (all rows paused together) before giving up

    def __post_init__(self) -> None:
        _normalize_extra_body(self)
        _normalize_response_format(self)
        if self.image_detail not in (None, "low", "high", "auto"):
            raise ConfigError(
                "image_detail must be low, high or auto", received=self.image_detail, fix="image_detail='low'"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "base_url must be an http(s) URL of an OpenAI-compatible API",
                received=public_url(self.base_url),
                fix="pass base_url='http://localhost:8000/v1' (or set OPENAI_BASE_URL)",
            )
        if "@" in parts.netloc:  # http://user:KEY@host/v1: the key would be in every log and hint
            raise ConfigError(
                "base_url holds a user name or password (not shown, so it stays out of logs); "
                "hf_vqa sends the key as a header, never in the URL",
                received=public_url(self.base_url),
                fix="remove 'user:password@' from --base-url / OPENAI_BASE_URL and export the key in "
                f"${self.api_key_env or 'OPENAI_API_KEY'} (--api-key-env names the variable)",
            )
        if not self.model or not isinstance(self.model, str):
            raise ConfigError("model must be a non-empty string", received=self.model, fix="pass model='...'")
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise ConfigError(
                "api_key_env is the NAME of an environment variable, not the key itself",
                received="<hidden: not a variable name>",
                fix="pass api_key_env='OPENAI_API_KEY' and export the key in that variable",
            )
        _positive_int(self, "max_concurrency", "max_image_side", "max_image_pixels", "max_reply_bytes")
        _positive_int(self, "rpm", "tpm", "max_tokens", optional=True)
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(
                "max_retries must be an int >= 0", received=self.max_retries, fix="max_retries=6"
            )
        for name in ("timeout", "url_timeout", "rate_limit_wait", "give_up_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{name} must be a number of seconds > 0", received=value, fix=f"{name}=60")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ConfigError(
                "temperature must be in [0, 2]", received=self.temperature, fix="temperature=0.0"
            )
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError("top_p must be in (0, 1]", received=self.top_p, fix="top_p=1.0")

    @property
    def cache_folder(self) -> Path:
        """Where this run's store and bookkeeping live (see `cache_folder()`)."""
        return cache_folder(self.cache_dir)

    @property
    def host(self) -> str:
        """The endpoint's host name, safe to print and to put in a dataset card."""
        return urlsplit(self.base_url).hostname or ""

    def api_key(self) -> str:
        """Read the API key from `api_key_env` now. Endpoints without auth: `api_key_env=""`.

        Example:
            >>> VLM(api_key_env="").api_key()
            'EMPTY'
        """
        if not self.api_key_env:
            return "EMPTY"
        key = os.environ.get(self.api_key_env)
        if not key:
            if _looks_like_a_key(self.api_key_env):
                raise ConfigError(
                    "api_key_env looks like an API key, not the NAME of an environment variable "
                    "(not shown, so it stays out of logs)",
                    fix="pass api_key_env='OPENAI_API_KEY' (--api-key-env OPENAI_API_KEY) and export "
                    "the key in that variable",
                )
            raise ConfigError(
                f"the API key variable {self.api_key_env} is not set",
                fix=f"export {self.api_key_env}=... (or pass api_key_env='' / --api-key-env '' "
                "for an endpoint without auth)",
            )
        from hf_vqa.engine import redaction

        redaction.remember(key)  # redacted from all this process stores and writes
        return key

    def generation_params(self) -> dict:
        """The sampling fields sent with every request (None fields are left out)."""
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        params |= {"top_p": self.top_p, "seed": self.seed, "reasoning_effort": self.reasoning_effort}
        params = {k: v for k, v in params.items() if v is not None}
        if self.response_format:
            params["response_format"] = self.response_format
        if self.stream:
            params |= {"stream": True, "stream_options": {"include_usage": True}}
        return params | self.extra_fields()

    def extra_fields(self) -> dict:
        """`extra_body` as a dict (empty when not set).

        Example:
            >>> VLM(extra_body={"enable_thinking": False}).extra_fields()
            {'enable_thinking': False}
        """
        return json.loads(self.extra_body) if self.extra_body else {}

    def to_dict(self) -> dict:
        """All fields as a plain dict (no secrets live here)."""
        return asdict(self)


def public_url(url: str) -> str:
    """`url` without its user name and password (safe to print).

    Example:
        >>> public_url("http://me:sk-secret@127.0.0.1:8000/v1")
        'http://***@127.0.0.1:8000/v1'
        >>> public_url("https://api.openai.com/v1")
        'https://api.openai.com/v1'
    """
    parts = urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url)
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _looks_like_a_key(name: str) -> bool:
    """True for names that are probably a pasted key (``gsk_...``, long mixed-case with digits).

    Example:
        >>> _looks_like_a_key("OPENAI_API_KEY"), _looks_like_a_key("gsk_8fJ2kLq9ZxYw3vTn5RmPa1")
        (False, True)
    """
    if name.startswith(("sk-", "sk_", "gsk_", "hf_", "xai-", "AIza", "pk-")):
        return True
    return len(name) >= 20 and any(c.islower() for c in name) and any(c.isdigit() for c in name)


def _normalize_extra_body(vlm: VLM) -> None:
    """Keep `extra_body` as canonical JSON text of an object (hashable, stable in the store key)."""
    value = vlm.extra_body
    if value is None or value == "":
        object.__setattr__(vlm, "extra_body", None)
        return
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:  # never echo the text: it may hold a key
            where = f"{err.msg} at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError) else "unreadable"  # fmt: skip
            raise ConfigError("extra_body is not valid JSON (its text is not shown: it may hold a key)",
                              received=f"{len(value)} characters; {where}",
                              fix='pass a JSON object, e.g. --extra-body \'{"enable_thinking": false}\'') from None  # fmt: skip
    if not isinstance(value, dict):
        raise ConfigError("extra_body must be a JSON object", received=f"a JSON {type(value).__name__}",
                          fix='extra_body={"top_k": 20}')  # fmt: skip
    if {"model", "messages"} & value.keys():
        raise ConfigError("extra_body cannot replace model or messages", received=sorted(value),
                          fix="use --model and the conversation instead")  # fmt: skip
    object.__setattr__(
        vlm, "extra_body", json.dumps(value, sort_keys=True, ensure_ascii=False) if value else None
    )


def _normalize_response_format(vlm: VLM) -> None:
    """`response_format` as a dict with a "type" (JSON text is read), or None."""
    value = vlm.response_format
    if value is None or value == "" or value == {}:
        object.__setattr__(vlm, "response_format", None)
        return
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ConfigError("response_format is not valid JSON", received=vlm.response_format,
                              fix='response_format={"type": "json_object"}') from err  # fmt: skip
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ConfigError("response_format must be an object with a 'type'", received=value,
                          fix='response_format={"type": "json_schema", "json_schema": {...}}')  # fmt: skip
    object.__setattr__(vlm, "response_format", json.loads(json.dumps(value)))


def _positive_int(vlm: VLM, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(vlm, name)
        if optional and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1", received=value, fix=f"pass a positive {name}")
