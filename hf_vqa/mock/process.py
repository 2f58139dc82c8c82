"""The mock VLM as a program of its own: its command-line options, `start_subprocess` (run
``python -m hf_vqa.mock.server`` and wait for its ready line), and `watch_parent` (stop when the process
that started it is gone, even after a SIGKILL).

Example:
    >>> sorted(_FLAGS)[:3]
    ['api_key', 'fault_rate', 'faults']
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from typing import Any

from hf_vqa.errors import ConfigError
from hf_vqa.mock.answers import FAULT_KINDS

__all__ = ["EXIT_OK", "EXIT_USAGE", "PARENT_ENV", "start_subprocess", "watch_parent"]

EXIT_OK, EXIT_USAGE = 0, 2  # as the hf-vqa command line (cli.command): done; bad arguments, one line
_FLAGS = {"host": str, "port": int, "latency": float, "jitter": float, "fault_rate": float, "seed": int}
_FLAGS |= {"faults": json.loads, "max_concurrent": int, "retry_after": float, "slow_seconds": float}
_FLAGS |= {"api_key": str, "profile": str, "models": str}
_HELP = {
    "host": "address to listen on (default: 127.0.0.1; keep it on loopback)",
    "port": "port to listen on (default: 0, a free port; the ready line names it)",
    "latency": "seconds each answer waits (default: 0)",
    "jitter": "random extra +/- seconds on each answer's latency (default: 0)",
    "fault_rate": "share of requests that fail, spread over the fault kinds (default: 0)",
    "seed": "random seed for faults and jitter (default: 0)",
    "faults": f"JSON {{kind: share}}, kinds: {', '.join(FAULT_KINDS)} (default: none), e.g. '{{\"500\": 0.1}}'",
    "max_concurrent": "requests in flight before it answers 429 (default: no cap)",
    "retry_after": "seconds its 429s ask the client to wait (default: 1)",
    "slow_seconds": "how long a 'slow' fault stalls (default: 30)",
    "api_key": "require this bearer key (default: accept any)",
    "models": "comma-separated model names it serves; others get 404 model_not_found (default: any name)",
    "profile": "a provider's documented quirks: openai, openai-reasoning, stream-only-thinking, vllm, gateway, no-structured "
    "(default: openai; see hf_vqa/mock/profiles.py)",
}


def start_subprocess(*, timeout: float = 30.0, **kwargs: Any) -> tuple[subprocess.Popen, str]:
    """Run ``python -m hf_vqa.mock.server`` with `MockVLM` kwargs; return ``(process, base_url)`` when ready.

    Example: ``proc, url = start_subprocess(latency=0.05); ...; proc.terminate(); proc.wait()``.
    """
    if set(kwargs) - set(_FLAGS):
        raise ConfigError("unknown mock option", received=sorted(kwargs), fix=f"use {sorted(_FLAGS)}")
    argv = [sys.executable, "-m", "hf_vqa.mock.server"]
    for name, value in {"port": 0, **kwargs}.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", json.dumps(value) if name == "faults" else str(value)]
    with tempfile.TemporaryFile() as stderr:
        env = {
            **os.environ,
            PARENT_ENV: str(os.getpid()),
        }  # it stops when this process is gone (a SIGKILL too)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        found: list[str] = []
        ready = threading.Event()

        def drain() -> None:  # keeps reading stdout so the child never blocks on a full pipe
            for line in proc.stdout or ():
                if not found and line.startswith("MOCK_VLM_READY "):
                    found.append(line.split()[1])
                    ready.set()
            ready.set()

        threading.Thread(target=drain, name="mock-vlm-stdout", daemon=True).start()
        ready.wait(timeout)
        if not found:
            try:  # stdout closed (ready is set) means the child is exiting: collect its code
                code: int | None = proc.wait(timeout=2 if ready.is_set() else 0.01)
            except subprocess.TimeoutExpired:
                code = None
            status = f"exited with code {code}" if code is not None else f"was not ready within {timeout}s"
            proc.kill()
            proc.wait()
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-2000:] or " ".join(argv)
            said = [line[len("error: ") :] for line in tail.splitlines() if line.startswith("error: ")]
            if code == EXIT_USAGE and said:  # its own one-line error already says what to fix
                raise ConfigError(f"the mock VLM did not start: {said[-1]}")
            what = f"mock VLM subprocess {status} without printing MOCK_VLM_READY"
            raise ConfigError(
                what, received=tail, fix="check the options; see python -m hf_vqa.mock.server --help"
            )
    return proc, found[0]


PARENT_ENV = "HF_VQA_MOCK_PARENT"  # set by `start_subprocess`: the pid whose end stops the mock


def watch_parent(done: threading.Event, every: float = 0.5) -> None:
    """When started by `start_subprocess`, set `done` once the parent process is gone (killed with
    SIGKILL, it cannot stop us itself): a thread checks every `every` seconds whether we were
    re-parented. (Not PR_SET_PDEATHSIG: it fires when the parent *thread* that started us ends.)"""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return

    def watch() -> None:
        while not done.wait(every):
            if os.getppid() != int(parent):  # re-parented: the process that started us died
                done.set()

    threading.Thread(target=watch, name="mock-vlm-parent", daemon=True).start()
