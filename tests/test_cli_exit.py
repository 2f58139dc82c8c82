"""exit_now: the command exits without the interpreter's teardown, after its atexit handlers and flushes."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import atexit, sys, threading, time
from hf_vqa.cli.main import exit_now

class Teardown:
    def __del__(self):
        print("teardown", flush=True)

kept = Teardown()  # destroyed only by the interpreter's teardown
atexit.register(lambda: print("atexit", flush=True))
print("buffered", end="")  # still in stdout's buffer when exit_now runs
if sys.argv[1] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done", flush=True))).start()
exit_now(3)
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=60)


def test_exit_now_runs_atexit_and_flushes_but_skips_the_teardown():
    done = _run("plain")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "bufferedatexit\n"  # no "teardown": objects are left to the OS


def test_a_running_thread_gets_the_ordinary_exit():
    done = _run("thread")
    assert done.returncode == 3, done.stderr
    assert "thread done" in done.stdout and "atexit" in done.stdout and "teardown" in done.stdout
