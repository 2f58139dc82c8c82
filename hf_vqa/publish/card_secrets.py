"""What a card must not show: secret-looking environment values and URL credentials or queries.

Example:
    >>> scrub_urls("curl https://user:pw@host/v1?key=abc")
    'curl https://host/v1'
"""

from __future__ import annotations

import os
import re
from typing import Any


def redact(text: str) -> str:
    """Blank out values of secret-looking environment variables (`*KEY*`, `*TOKEN*`, ...) in `text`.

    Example:
        >>> os.environ["DEMO_API_KEY"] = "sk-demo-123456"; redact("key sk-demo-123456")
        'key ***'
    """
    for name, value in os.environ.items():
        if len(value) >= 8 and re.search(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", name, re.I):
            text = text.replace(value, "***")
    return text


def scrub_urls(text: str) -> str:
    """Drop credentials and query strings from URLs in `text` (for command lines in a card)."""
    text = re.sub(r"(\w+://)[^/\s@]+@", r"\1", text)
    return re.sub(r"(\w+://[^\s?#'\"]+)[?#][^\s'\"]*", r"\1", text)


def clean(value: Any) -> Any:
    """`redact` every string in a run's provenance; commands also lose URL credentials."""
    if isinstance(value, dict):
        return {k: scrub_urls(redact(v)) if k == "command" and v else clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return redact(value) if isinstance(value, str) else value
