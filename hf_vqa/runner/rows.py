"""One dataset row -> the request `prompted_vqa` sends for it: its images prepared (caps applied) and
the chat-completions body with its store key. Batch mode (`batch/lines.py`), the cost estimate
(`cost/estimate.py`), the repair step and the judge build theirs here too, so they never drift apart.

Example:
    >>> row_request({}, VLM(model="m", api_key_env=""), [], prompt="Describe.").body["messages"]
    [{'role': 'user', 'content': 'Describe.'}]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from hf_vqa.config import VLM
from hf_vqa.errors import InputError
from hf_vqa.images.fetch import FetchSettings
from hf_vqa.images.prepare import prepare_image
from hf_vqa.images.settings import ImageSettings, PreparedImage
from hf_vqa.inputs import unencodable
from hf_vqa.messages import Request, build_request

__all__ = ["image_settings", "row_images", "row_request"]


def row_images(row: dict, vlm: VLM, image_key: str | None) -> list[PreparedImage]:
    """The row's images, prepared as the request will carry them (caps applied).

    Example:
        >>> row_images({"image": None}, VLM(api_key_env=""), "image")
        []
    """
    return [
        prepare_image(v, image_settings(vlm)) for v in _as_list(row.get(image_key) if image_key else None)
    ]


def row_request(
    row: dict,
    vlm: VLM,
    images: Sequence[PreparedImage],
    *,
    system_prompt: str | None = None,
    prompt: str | None = None,
    conversation_key: str = "conversation",
    response_format: dict | None = None,
) -> Request:
    """The exact request (body and store key) `prompted_vqa` sends for this row; batch mode and the
    cost estimate build theirs here too, so the three never drift apart.

    Example:
        >>> row_request({}, VLM(model="m", api_key_env=""), [], prompt="Describe.").body["messages"]
        [{'role': 'user', 'content': 'Describe.'}]

    A row whose text could not be encoded as UTF-8 when it was loaded (`inputs.unencodable`) raises
    `InputError`: that row fails alone.
    """
    if bad := unencodable.problem(row.get(conversation_key)):
        raise InputError(bad, fix="fix that record's text (it must be valid UTF-8)")
    return build_request(
        row.get(conversation_key),
        images,
        model=vlm.model,
        params=vlm.generation_params(),
        system_prompt=system_prompt,
        prompt=prompt,
        response_format=response_format,
        endpoint=vlm.base_url,
        image_detail=vlm.image_detail,
    )


@functools.lru_cache(maxsize=64)
def image_settings(vlm: VLM) -> ImageSettings:
    """The image caps and URL-fetch rules a `VLM` asks for."""
    return ImageSettings(
        max_side=vlm.max_image_side,
        max_pixels=vlm.max_image_pixels,
        url=FetchSettings(timeout=vlm.url_timeout, allow_private=vlm.allow_private_urls),
    )


def _as_list(value: Any) -> Sequence[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return value
    return [value]
