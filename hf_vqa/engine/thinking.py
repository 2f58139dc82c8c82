"""Keeping a model's reasoning apart from its answer.

Reasoning arrives as ``reasoning_content`` (DeepSeek, vLLM's reasoning parsers, DashScope) or
``reasoning`` (OpenRouter, Ollama) beside ``content``, or inline as a leading ``<think>…</think>``
block (Qwen3, QwQ and DeepSeek-R1 served without a reasoning parser). Either way it goes to the
``<output_key>_reasoning`` column, never into the answer that the refiners parse.

Example:
    >>> split("<think>a cat, so...</think>\\n\\nQ: What? A: A cat.")
    ('Q: What? A: A cat.', 'a cat, so...')
    >>> split("Q: What? A: A cat.", "looked at it")
    ('Q: What? A: A cat.', 'looked at it')
"""

from __future__ import annotations

import re

__all__ = ["split"]

_THINK = re.compile(r"\A\s*<think>(.*?)</think>\s*", re.DOTALL)


def split(content: str | None, reasoning: str | None = None) -> tuple[str | None, str | None]:
    """`(answer, reasoning)`: a leading ``<think>`` block moves from `content` to the reasoning.

    A ``</think>`` without its opening tag (some chat templates put ``<think>`` in the prompt)
    counts too, when it comes before any answer text.

    Example:
        >>> split("thinking here</think>answer")
        ('answer', 'thinking here')
    """
    parts = [reasoning.strip()] if reasoning and reasoning.strip() else []
    if content:
        found = _THINK.match(content)
        if found:
            parts.append(found.group(1).strip())
            content = content[found.end() :]
        elif "</think>" in content and "<think>" not in content:
            head, _, tail = content.partition("</think>")
            parts.append(head.strip())
            content = tail.lstrip()
    return content, ("\n\n".join(p for p in parts if p) or None)
