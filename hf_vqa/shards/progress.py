"""What the driver of a sharded run knows and prints about each shard (the Ray driver's display).

A `ShardState` is waiting, running, done, skipped (already in from an earlier run) or failed; the tasks
report their worker pid when they start and their rows done as they go, and `update_states` folds those
reports in. `describe` is the line printed when a shard's state changes; `progress_line` is the line
for all shards printed every few seconds.

Example:
    >>> s = ShardState(1, state="done", done=250, seconds=5.0, attempts=2)
    >>> describe(s, 4)
    'shard 1/4: done: 250 rows, 0 failed, 50.0 rows/s, attempts 2'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["ShardState", "describe", "progress_line", "record", "update_states"]


@dataclass
class ShardState:
    """What the driver knows about one shard: waiting, running, done, skipped or failed."""

    index: int
    state: str = "waiting"
    rows: int = 0
    done: int = 0
    failed: int = 0
    attempts: int = 0
    pids: list[int] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0
    error: str = ""

    def rate(self) -> float:
        """Rows per second: of the whole shard once done, else since its latest attempt started."""
        if self.seconds:
            return self.done / self.seconds
        return self.done / max(1e-6, time.time() - self.started) if self.started else 0.0


def update_states(states: list[ShardState], snapshot: dict[int, dict]) -> None:
    """Fold the tasks' reports (index → pids, rows done, failed) into the states still waiting or running.

    Example:
        >>> states = [ShardState(0)]
        >>> update_states(states, {0: {"pids": [11, 12], "done": 7, "failed": 1, "started": 0.0}})
        >>> states[0].state, states[0].attempts, states[0].done
        ('running', 2, 7)
    """
    for index, entry in snapshot.items():
        s = states[index]
        s.pids, s.attempts = list(entry.get("pids", [])), len(entry.get("pids", []))
        s.started = entry.get("started", s.started)
        if s.state in ("waiting", "running"):
            s.state = "running" if s.attempts else s.state
            s.done, s.failed = entry.get("done", 0), entry.get("failed", 0)


def record(s: ShardState) -> tuple:
    """What, when it changes, deserves a line: the state and the attempt (`record(ShardState(0))`)."""
    return (s.state, s.attempts)


def describe(s: ShardState, num: int) -> str:
    """The line for shard `s` of `num` (see the module's example)."""
    head = f"shard {s.index}/{num}: {s.state}"
    if s.state == "running":
        return head + (f" (attempt {s.attempts}: its previous worker died; Ray retried it)" if s.attempts > 1
                       else f" (pid {s.pids[-1]})" if s.pids else "")  # fmt: skip
    if s.state == "done":
        return head + f": {s.done} rows, {s.failed} failed, {s.rate():.1f} rows/s, attempts {s.attempts}"
    if s.state == "failed":
        return head + f": {s.error}"
    return head + (" (already in, from an earlier run of this job)" if s.state == "skipped" else "")


def progress_line(states: list[ShardState]) -> str:
    """One line for all shards.

    Example:
        >>> progress_line([ShardState(0, state="done"), ShardState(1)])
        'shards: #0 done · #1 waiting'
    """
    parts = []
    for s in states:
        text = f"#{s.index} {s.state}"
        if s.state == "running":
            text += f" {s.done} rows {s.rate():.1f}/s {s.failed} failed"
        parts.append(text)
    return "shards: " + " · ".join(parts)
