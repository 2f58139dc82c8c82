"""The engine assembled in one place: every part built from one `EngineSettings`, the `VLM` read once.

`EngineParts.from_vlm(vlm)` resolves the settings (`settings.py`), reads the key (a missing one fails
here, before any request), and builds the store, the guard with its adaptations record, the outage
watch, the shared rate buckets and the admission limit from them. `client.Engine` only wires the
parts to its event loop; the transport is opened later, inside that loop (`open_transport`).

Example:
    >>> from hf_vqa.config import VLM
    >>> parts = EngineParts.from_vlm(VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="",
    ...                                  cache_dir="/tmp/hf_vqa_assemble", max_concurrency=4))
    >>> parts.admission.limit, parts.outage.threshold, parts.limits.active
    (16, 4, False)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hf_vqa.engine.adapt import Adaptations
from hf_vqa.engine.admission import Admission, RateLimits
from hf_vqa.engine.guard import Guard
from hf_vqa.engine.outage import Outage
from hf_vqa.engine.settings import EngineSettings
from hf_vqa.engine.store import Store, get_store
from hf_vqa.engine.transport import Transport

if TYPE_CHECKING:
    from hf_vqa.config import VLM

__all__ = ["OUTAGE_REQUESTS", "EngineParts", "EngineStats"]

OUTAGE_REQUESTS = 8  # failures of this many different requests in a row (fewer at low concurrency): down


@dataclass
class EngineStats:
    """Counters for progress display and summaries (this process only)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    retries: int = 0
    rate_limited: int = 0
    cached: int = 0
    prep_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    adapted: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class EngineParts:
    """Everything an engine is made of besides its loop (see the module docstring)."""

    settings: EngineSettings
    api_key: str
    store: Store | None
    guard: Guard
    outage: Outage
    limits: RateLimits
    admission: Admission
    stats: EngineStats = field(default_factory=EngineStats)

    @classmethod
    def from_vlm(cls, vlm: VLM) -> EngineParts:
        """The parts for `vlm`; raises `ConfigError` when its key is missing (before any request)."""
        settings = EngineSettings.of(vlm)
        api_key = vlm.api_key()  # fail fast, before any request, if the key is missing
        return cls.from_settings(settings, api_key)

    @classmethod
    def from_settings(cls, settings: EngineSettings, api_key: str) -> EngineParts:
        """The parts for resolved `settings` and the key (`from_vlm` reads both from a `VLM`)."""
        s = settings
        # max_retries=0 asks for no retries: then nothing waits on an outage either (an unreachable threshold)
        threshold = max(2, min(OUTAGE_REQUESTS, s.max_concurrency)) if s.max_retries else 0
        adaptations = Adaptations.load(s.adaptations_path)  # what earlier runs and processes learned
        return cls(
            settings=s,
            api_key=api_key,
            store=get_store(str(s.folder)) if s.use_store else None,
            guard=Guard(
                s, api_key, adaptations
            ),  # adapting to the endpoint; stopping a run that cannot succeed
            outage=Outage(s.base_url, give_up_after=s.give_up_after, threshold=threshold),
            limits=RateLimits.shared(s.folder, s.bucket_name, s.rpm, s.tpm),
            # Backpressure: at most this many prepared requests (image data included) exist at once.
            admission=Admission(2 * s.max_concurrency + 8, wake_every=max(1, s.max_concurrency // 4)),
        )

    def open_transport(self) -> Transport:
        """The connection pool for this endpoint (call inside the engine's event loop)."""
        s = self.settings
        return Transport.open(s.base_url, self.api_key, timeout=s.timeout, max_connections=s.max_concurrency + 8,
                              max_reply_bytes=s.max_reply_bytes)  # fmt: skip
