"""The engine's settings, read from a `VLM` once: the endpoint, its limits, and where the run's files live.

Every part of the engine (the store, the guard and its adaptations record, the outage, the shared rate
buckets, the transport) is built from this one value in `assemble.py`, so no part reaches back into the
`VLM` or `config` on its own. The API key is not here: `EngineParts` reads it once, and only the guard
(for redaction) and the transport hold it.

Example:
    >>> from hf_vqa.config import VLM
    >>> s = EngineSettings.of(VLM(model="m", base_url="http://127.0.0.1:9/v1", api_key_env="", rate_scope="3"))
    >>> s.host, s.bucket_name
    ('127.0.0.1', 'http://127.0.0.1:9/v1|m|3')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hf_vqa.engine.adapt import record_path

if TYPE_CHECKING:
    from hf_vqa.config import VLM

__all__ = ["EngineSettings"]


@dataclass(frozen=True)
class EngineSettings:
    """What the engine's parts need of a `VLM`, resolved once (`EngineSettings.of(vlm)`)."""

    base_url: str
    model: str
    host: str  # safe to print
    api_key_env: str  # the variable's name (for the fix in an error message), never its value
    timeout: float
    max_concurrency: int
    max_retries: int
    rate_limit_wait: float
    give_up_after: float
    max_reply_bytes: int
    rpm: int | None
    tpm: int | None
    use_store: bool
    folder: Path  # the cache folder: the store, the adaptations record and the rate buckets live here
    bucket_name: str  # the shared rpm/tpm buckets' name: endpoint, model and rate scope
    adaptations_path: Path  # what this endpoint and model were found to reject, shared across processes

    @classmethod
    def of(cls, vlm: VLM) -> EngineSettings:
        """The settings of `vlm` (the cache folder resolved now, as `config.cache_folder` says)."""
        folder = vlm.cache_folder
        scope = f"|{vlm.rate_scope}" if vlm.rate_scope else ""
        return cls(
            base_url=vlm.base_url,
            model=vlm.model,
            host=vlm.host,
            api_key_env=vlm.api_key_env,
            timeout=vlm.timeout,
            max_concurrency=vlm.max_concurrency,
            max_retries=vlm.max_retries,
            rate_limit_wait=vlm.rate_limit_wait,
            give_up_after=vlm.give_up_after,
            max_reply_bytes=vlm.max_reply_bytes,
            rpm=vlm.rpm,
            tpm=vlm.tpm,
            use_store=vlm.use_store,
            folder=folder,
            bucket_name=f"{vlm.base_url}|{vlm.model}{scope}",
            adaptations_path=record_path(folder, vlm.base_url, vlm.model),
        )
