"""Fixtures: fixtures_hub — the loopback Hub-compatible server (``tests/hub_server.py``).

The server starts when this plugin is imported, i.e. before any test module, so the environment below is
in place before ``huggingface_hub`` / ``datasets`` are imported and read it into their constants
(``huggingface_hub.constants.ENDPOINT``, ``datasets.config.HF_ENDPOINT``). Subprocesses inherit it too.
Nothing in the session can talk to the real Hub: the endpoint is loopback, the token is fake, and the
caches live in a temp dir removed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import HubServer

HUB_TOKEN = "hf_test_write_token"
_TMP = Path(tempfile.mkdtemp(prefix="hf_vqa_hub_"))
_ALREADY_IMPORTED = sorted(m for m in ("huggingface_hub", "datasets") if m in sys.modules)
SERVER = HubServer(_TMP / "hub").start()

HUB_ENV = {
    "HF_ENDPOINT": SERVER.endpoint,
    "HF_HUB_DISABLE_XET": "1",  # the test hub only speaks the basic LFS transfer
    "HF_TOKEN": HUB_TOKEN,
    "HF_HOME": str(_TMP / "hf_home"),
    "HF_DATASETS_CACHE": str(_TMP / "hf_home" / "datasets"),
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN_PATH", "HF_STAGING"):
    os.environ.pop(_name, None)
os.environ.update(HUB_ENV)


def pytest_report_header() -> str:
    return f"hub server: {SERVER.endpoint} (storage {SERVER.root})"


def pytest_unconfigure() -> None:
    SERVER.stop()
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def hub_server() -> HubServer:
    """The session's loopback Hub; fails if the real libraries are not pointed at it."""
    import datasets
    import huggingface_hub

    if _ALREADY_IMPORTED or SERVER.endpoint != huggingface_hub.constants.ENDPOINT:
        pytest.fail(
            f"{_ALREADY_IMPORTED or 'huggingface_hub'} read HF_ENDPOINT before fixtures_hub set it "
            f"(endpoint {huggingface_hub.constants.ENDPOINT!r}); list 'fixtures_hub' first in pytest_plugins."
        )
    assert SERVER.endpoint == datasets.config.HF_ENDPOINT
    return SERVER


@pytest.fixture(autouse=True)
def _hub_reset_faults() -> Iterator[None]:
    """Injected commit failures and rejected tokens never leak from one test into the next."""
    yield
    SERVER.reset_faults()


@pytest.fixture
def hub_repo_id() -> str:
    """A fresh, not yet created repo id in the ``tester`` namespace."""
    return f"tester/ds-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hub_env() -> dict[str, str]:
    """Environment variables pointing a subprocess at the test hub (already set in ``os.environ``)."""
    return dict(HUB_ENV)
