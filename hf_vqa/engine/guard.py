"""What one endpoint accepts, decided once per run: adapting rejected parameters, and stopping a run
that cannot succeed.

`Guard` sits between the engine and `transport.py`, one per `Engine` (one per process):

- **The first request goes alone** (`enter`/`leave`/`done`): the others wait for its answer, so a wrong
  key, model or parameter costs one request, not one per concurrency slot. The gate opens when that
  request ends, however it ends (an answer, an error, a spent budget, a cancellation: `done`), and a
  waiting request goes anyway after `gate_seconds`.
- **Adapting** (`rewrite`, `adapt`): a 400 that names a parameter changes every later request (see
  `adapt.py`); the change is shared with the run's other processes through the cache folder. The run
  has a fixed budget: each parameter is changed at most once, and at most `MAX_CHANGES` changes in all;
  past that, the 400 is the row's final error, in the server's words.
- **Stopping** (`judge`): a 401/403/404, or the same 400 for the first `SAME_400_STOP` requests, sets
  `stopped` (one line: the server's message and the fix, never the key); nothing more is sent.

Example:
    >>> from hf_vqa.config import VLM
    >>> from hf_vqa.engine.settings import EngineSettings
    >>> g = Guard(EngineSettings.of(VLM(base_url="http://127.0.0.1:9/v1", api_key_env="", cache_dir="/tmp/g")), "EMPTY")
    >>> g.judge(Fatal("Incorrect API key provided", 401), ok=0)
    >>> g.stopped.startswith("HTTP 401 from 127.0.0.1: Incorrect API key provided. Fix: check the endpoint's auth")
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from hf_vqa.engine.adapt import Adaptations, Change, change_for, error_info
from hf_vqa.engine.outcomes import Fatal
from hf_vqa.engine.replies import redact
from hf_vqa.engine.settings import EngineSettings
from hf_vqa.errors import one_line

__all__ = ["MAX_CHANGES", "SAME_400_STOP", "STOP_STATUSES", "Guard", "looks_like_a_key_problem"]

_log = logging.getLogger("hf_vqa.engine.client")
STOP_STATUSES = (401, 403, 404)  # the key or the model/URL is wrong: every other request would fail too
SAME_400_STOP = 8  # this many first requests all failing with the same 400 stop the run
MAX_CHANGES = 12  # adaptations a run may make in all (each parameter at most once)


_KEY_WORDS = re.compile(
    r"api[ _-]?key|invalid (?:key|token)|incorrect (?:key|token)|authenticat|unauthori[sz]ed|"
    r"no connected db|credential|bearer|access token|virtual key|expired (?:key|token)",
    re.IGNORECASE,
)


def looks_like_a_key_problem(message: str) -> bool:
    """True when a 400's message is about the key (as some gateways say it), not about the request.

    Example:
        >>> looks_like_a_key_problem("No connected db."), looks_like_a_key_problem("max_tokens is too large")
        (True, False)
    """
    return bool(_KEY_WORDS.search(message))


class Guard:
    """The run-level rules for one endpoint and model, in one process (see the module docstring)."""

    def __init__(
        self, settings: EngineSettings, api_key: str, adaptations: Adaptations | None = None
    ) -> None:
        """`adaptations`: what earlier runs and processes learned (default: read from the settings' record)."""
        self.settings, self._api_key = settings, api_key
        self._path = settings.adaptations_path
        self.adaptations = Adaptations.load(self._path) if adaptations is None else adaptations
        self.stopped: str | None = None
        self._first_400s: list[str] = []
        self._prober: str | None = None
        self._gate: asyncio.Event | None = None  # made in the engine's loop, at the first request
        self.gate_seconds = 2 * settings.timeout + 5  # a bound on the wait, whatever the first request does

    # -- the first request goes alone ------------------------------------------------------------
    async def enter(self, key: str) -> None:
        """Wait until the run's first request (`key` may be it) has had a usable answer."""
        if self._gate is None:
            self._gate = asyncio.Event()
        if not self._gate.is_set():
            if self._prober is None:
                self._prober = key
            elif self._prober != key:
                # the first request is slow: after the bound, the others go rather than wait on
                with contextlib.suppress(TimeoutError):  # a timer each, no task each (as wait_for makes)
                    async with asyncio.timeout(self.gate_seconds):
                        await self._gate.wait()

    def leave(self, key: str, *, adapting: bool) -> None:
        """An attempt of `key` is over; if it was the first and needs no new attempt, let the others go."""
        if not adapting:
            self.done(key)

    def done(self, key: str) -> None:
        """The request `key` has ended, whatever way (answer, error, budget spent, cancelled): if it was
        the first, the others go. The engine calls this in a ``finally``."""
        if key == self._prober and self._gate is not None:
            self._gate.set()

    # -- adapting --------------------------------------------------------------------------------
    def rewrite(self, body: dict) -> dict:
        """`body` as this run sends it (every adaptation applied; the same dict when none)."""
        return self.adaptations.apply(body)

    def adapt(self, content: bytes, sent: dict, message: str) -> bool:
        """True when a 400 with this error `content` (for the body `sent`) names something to change:
        the change then holds for the rest of the run, and the row should be sent again. False when it
        names nothing to change, or the run's budget of changes (`MAX_CHANGES`) is spent."""
        change = change_for(error_info(content), sent)
        if change is None:
            return False
        if change in self.adaptations.changes:
            return True  # another row already adapted while this one was on the wire
        if len(self.adaptations.changes) >= MAX_CHANGES:
            return False
        self._remember(change, message)
        return True

    def _remember(self, change: Change, message: str) -> None:
        self.adaptations.add(change)
        with contextlib.suppress(OSError):
            self.adaptations.save(self._path)
        what = "switching to stream=true" if change.kind == "stream" else f"sending {change.describe()}"
        _log.warning("%s rejected a request (%s): %s for the rest of this run", self.settings.host,
                     one_line(redact(message, self._api_key), 200), what)  # fmt: skip

    # -- stopping --------------------------------------------------------------------------------
    def judge(self, err: Fatal, *, ok: int) -> None:
        """Stop the run on a 401/403/404, or when the first requests (`ok` = 0 so far) all failed with
        the same 400."""
        if self.stopped or not err.status:
            return
        message = one_line(redact(str(err), self._api_key), 300)
        host = self.settings.host
        if err.status in STOP_STATUSES:
            self.stopped = f"HTTP {err.status} from {host}: {message}. Fix: {self._fix_for(err.status)}"
        elif err.status == 400 and ok == 0 and looks_like_a_key_problem(message):
            # gateways answer a bad key with a 400 (LiteLLM without its database: "No connected db")
            self.stopped = f"HTTP 400 from {host}: {message}. Fix: {self._fix_for(401)}"
        elif err.status == 400 and ok == 0:
            self._first_400s.append(message)
            if len(self._first_400s) >= SAME_400_STOP and len(set(self._first_400s)) == 1:
                self.stopped = (f"the first {SAME_400_STOP} requests all failed with the same HTTP 400 from "
                                f"{host}: {message}. Fix: change the request (model, parameters, "
                                "--extra-body, images per row) and run again")  # fmt: skip

    def _fix_for(self, status: int) -> str:
        if status in (401, 403):
            var = self.settings.api_key_env
            where = (
                f"the key in ${var} (--api-key-env names another variable)" if var else "the endpoint's auth"
            )
            return f"check {where}, and that it belongs to {self.settings.base_url}"
        return f"check --model {self.settings.model!r} and --base-url {self.settings.base_url} (it should end in /v1)"
