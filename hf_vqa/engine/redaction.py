"""Keeping API keys out of everything hf_vqa stores or writes: one redaction, in every form a key takes.

A server may echo the key back: plainly, JSON-escaped (``\\u0073\\u006b-...``, wholly or in part),
or split across stream deltas (whole only once they are joined). So redaction runs on the decoded,
assembled text as well as on raw bytes, and knows the escaped forms. Every key hf_vqa reads
(`VLM.api_key`) is remembered for this process; `scrub` removes all of them, and the request store
calls it on every write (online, streamed, batch output, ``--batch-import``), so no path can store a
key the engine forgot to redact.

Example:
    >>> remember("sk-abc123456")
    >>> scrub('echo: "\\\\u0073k-abc123456" and sk-abc123456')
    'echo: "<redacted>" and <redacted>'
    >>> redact_bytes(b"you sent sk-\\\\u0061bc123456", "sk-abc123456")
    b'you sent <redacted>'
"""

from __future__ import annotations

import functools
import os
import re
import threading

__all__ = ["MASK", "redact", "redact_bytes", "remember", "remember_env", "scrub", "worth_redacting"]

MASK = "<redacted>"
_KNOWN: set[str] = set()
_LOCK = threading.Lock()


def worth_redacting(secret: str | None) -> bool:
    """True for a key worth redacting: not empty, not the keyless placeholder, not too short to be unique.

    Example:
        >>> worth_redacting("EMPTY"), worth_redacting("sk-abc123456")
        (False, True)
    """
    return bool(secret) and secret != "EMPTY" and len(secret) >= 8


def remember(secret: str | None) -> None:
    """Redact `secret` from everything `scrub` sees in this process from now on."""
    if worth_redacting(secret):
        with _LOCK:
            _KNOWN.add(secret)  # type: ignore[arg-type]


def remember_env(name: str | None) -> None:
    """`remember` the value of the environment variable `name`, if set (a run that reads no key, such
    as ``--batch-import``, still redacts the one a user has exported)."""
    if name:
        remember(os.environ.get(name))


def _char(c: str) -> str:
    """A pattern for one character of a key: itself, or a JSON ``\\uXXXX`` escape (any case), also
    as Python shows it in a repr (``\\\\uXXXX``); ``/`` also as JSON's ``\\/``."""
    hexes = "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{ord(c):04x}")
    forms = [re.escape(c), r"\\{1,2}u" + hexes] + ([r"\\/"] if c == "/" else [])
    return "(?:" + "|".join(forms) + ")"


@functools.lru_cache(maxsize=64)
def _patterns(secret: str) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
    text = "".join(_char(c) for c in secret)
    return re.compile(text), re.compile(text.encode())


def redact(text: str, secret: str) -> str:
    """`text` without `secret`, in any of its forms.

    Example:
        >>> redact("bad key: Bearer sk-abc123456", "sk-abc123456")
        'bad key: Bearer <redacted>'
    """
    if not worth_redacting(secret) or not text:
        return text
    if "\\u" not in text and "\\/" not in text:  # the fast path: only the plain form can be there
        return text.replace(secret, MASK) if secret in text else text
    return _patterns(secret)[0].sub(MASK, text)


def redact_bytes(content: bytes, secret: str) -> bytes:
    """`content` (a raw reply body) without `secret`, in any of its forms."""
    if not worth_redacting(secret) or not content:
        return content
    if b"\\u" not in content and b"\\/" not in content:
        key = secret.encode("utf-8", "replace")
        return content.replace(key, MASK.encode()) if key in content else content
    return _patterns(secret)[1].sub(MASK.encode(), content)


def scrub(text: str | None) -> str | None:
    """`text` without any key this process has read (`remember`); None stays None."""
    if not text or not _KNOWN:
        return text
    for secret in list(_KNOWN):
        text = redact(text, secret)
    return text
