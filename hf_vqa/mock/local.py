"""The bundled mock VLM from Python (a notebook, a script): `with hf_vqa.mock_server() as url:`.

The server runs on loopback in a background thread of this process for the length of the `with`
block; its answers are synthetic (computed from the images), so the whole flow can be tried without a
key or a network. It serves `mock-vlm` and a few well-known model ids (`SERVED_MODELS`); another model
name gets 404 `model_not_found`, as from a real server.

Example:
    >>> import hf_vqa
    >>> with hf_vqa.mock_server() as url:  # doctest: +SKIP
    ...     vlm = hf_vqa.VLM(model="mock-vlm", base_url=url, api_key_env="")
    ...     ds, summary = hf_vqa.run_pipeline(hf_vqa.load_input("examples/sample/images"), "image-vqa", vlm=vlm)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hf_vqa.mock.server import SERVED_MODELS, MockVLM

__all__ = ["mock_server"]


@contextmanager
def mock_server(**settings: Any) -> Iterator[str]:
    """Serve the mock VLM for the `with` block; yields its base URL (`http://127.0.0.1:PORT/v1`).

    `settings` are `MockVLM`'s (e.g. `latency=0.05`, `faults={"500": 0.1}`).

    Example:
        >>> with mock_server() as url:  # doctest: +SKIP
        ...     vlm = VLM(model="mock-vlm", base_url=url, api_key_env="")
    """
    settings.setdefault("models", SERVED_MODELS)
    with MockVLM(**settings) as server:
        yield server.base_url
