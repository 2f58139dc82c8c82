"""The mock VLM's misformatted replies and their repair (`--repair-parse`).

`prose` writes pairs as sentences that no parser reads ("The answer to «Q» is «A»."), for the share of
requests `Settings.prose_rate` picks; `repair` answers a repair request (`hf_vqa.prompts.REPAIR_PROMPT`)
with the reply reformatted as JSON, reading those sentences or label lines in any language.

Example:
    >>> prose([("Colour?", "Red")])
    'The answer to «Colour?» is «Red».'
"""

from __future__ import annotations

import hashlib
import json
import re

__all__ = ["is_prose", "prose", "repair"]


def prose(pairs: list[tuple[str, str]]) -> str:
    """Pairs written as sentences no parser reads as pairs."""
    return " ".join(f"The answer to «{q}» is «{a}»." for q, a in pairs)


_REPAIR_HEAD = "The text between the two lines of dashes was meant to hold question-answer pairs"
_PROSE_PAIR = re.compile(r"The answer to «(.+?)» is «(.*?)»\.")
_LABEL_LINE = re.compile(r"^\s*[^\s:：]{1,20}(?:\s*\d{1,2})?\s*[:：]\s*(.+?)\s*$")


def repair(user_text: str) -> str | None:
    """The mock's answer to a `--repair-parse` request (the reply reformatted as JSON), or None when
    `user_text` is not one. It reads the prose pairs `prose_rate` writes, or label lines in any language."""
    if _REPAIR_HEAD not in user_text:
        return None
    reply = user_text.split("----------\n", 1)[-1].rsplit("\n----------", 1)[0]
    pairs = _PROSE_PAIR.findall(reply)
    head = reply.split("The answer to «", 1)[0].strip()
    if not pairs:
        values = [m[1] for line in reply.splitlines() if (m := _LABEL_LINE.match(line))]
        pairs = list(zip(values[0::2], values[1::2]))
        head = reply.split("\n\n", 1)[0].strip() if "\n\n" in reply else ""
    qas = [{"question": q, "answer": a} for q, a in pairs]
    if '"context"' in user_text:
        return json.dumps({"context": head, "qas": qas}, ensure_ascii=False)
    return json.dumps({"qas": qas}, ensure_ascii=False)


def is_prose(user_text: str, tags: list[str], rate: float) -> bool:
    """True for the requests (chosen by their text and images) that `prose_rate` answers as prose."""
    if rate <= 0:
        return False
    digest = hashlib.sha1((user_text + "|" + "|".join(tags)).encode("utf-8")).digest()
    return int.from_bytes(digest[4:8], "big") / 2**32 < rate
