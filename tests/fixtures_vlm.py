"""Fixtures: the loopback OpenAI-compatible mock VLM (`hf_vqa.mock.server.MockVLM`).

- ``mock_vlm``: a fresh, fault-free server per test.
- ``make_mock_vlm``: a factory, ``make_mock_vlm(fault_rate=0.2, latency=0.01)``; all stopped at teardown.
- ``mock_vlm_session``: one shared server; it is reset and returned to defaults before each use, so
  tests may call ``.configure()`` on it freely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hf_vqa.mock.server import MockVLM, Settings


def chat_body(text: str = "hello") -> dict:
    """A minimal chat-completion request body (for tests that drive `client.Engine` directly)."""
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


def engine_for(server: MockVLM, tmp_path: Any, **kw: Any) -> Any:
    """A fresh `client.Engine` for `server`, its store in `tmp_path`; `kw` go to `VLM`."""
    from hf_vqa.config import VLM
    from hf_vqa.engine.client import Engine

    kw.setdefault("cache_dir", str(tmp_path))
    return Engine(VLM(model="m", base_url=server.base_url, api_key_env="", **kw))


@pytest.fixture(autouse=True)
def _close_engines_after_each_test() -> Iterator[None]:
    """Engines hold open connections; close them (and their loop threads) when each test ends."""
    yield
    from hf_vqa.engine.lifecycle import close_engines

    close_engines()


@pytest.fixture
def mock_vlm() -> Iterator[MockVLM]:
    """A started, fault-free `MockVLM`; use ``mock_vlm.base_url`` as the OpenAI base URL."""
    with MockVLM() as server:
        yield server


@pytest.fixture
def make_mock_vlm() -> Iterator[Callable[..., MockVLM]]:
    """Start `MockVLM` servers with any kwargs: ``vlm = make_mock_vlm(faults={"500": 1.0})``."""
    started: list[MockVLM] = []

    def make(**kwargs: Any) -> MockVLM:
        server = MockVLM(**kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def _mock_vlm_shared() -> Iterator[MockVLM]:
    with MockVLM() as server:
        yield server


@pytest.fixture
def mock_vlm_session(_mock_vlm_shared: MockVLM) -> MockVLM:
    """The session-wide `MockVLM`, with default settings and zeroed stats at the start of each test."""
    defaults = Settings()
    _mock_vlm_shared.configure(seed=0, **{f: getattr(defaults, f) for f in defaults.__dataclass_fields__})
    _mock_vlm_shared.reset()
    return _mock_vlm_shared
