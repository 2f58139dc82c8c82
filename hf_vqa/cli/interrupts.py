"""How a run ends when it is interrupted or the disk fills: one line and a named exit code, never a traceback.

- `quiet_workers_on_ctrl_c`: only the main process reacts to Ctrl-C (forked `num_proc` workers ignore it).
- `caused_by_ctrl_c`: datasets' pool turns Ctrl-C into another error; find the KeyboardInterrupt in its chain.
- `interrupted`: let replies on the wire land in the store, say how to resume, exit 130.
- `disk_full`: the one-line message for an ENOSPC anywhere (the datasets cache included), or None.
- `exit_now`: the process ends with its code, without the interpreter's teardown.

Example:
    >>> caused_by_ctrl_c(TimeoutError("pool"))
    False
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading

from hf_vqa.cli.command import EXIT_INTERRUPTED

__all__ = ["caused_by_ctrl_c", "disk_full", "exit_now", "interrupted", "quiet_workers_on_ctrl_c"]


def interrupted() -> int:
    lifecycle = sys.modules.get("hf_vqa.engine.lifecycle")  # not imported: no request was ever sent
    with contextlib.suppress(
        KeyboardInterrupt
    ):  # replies on the wire are paid for: let them land in the store
        if lifecycle is not None:
            lifecycle.drain_engines(timeout=3.0)
    sys.stderr.write(
        "\ninterrupted: finished replies are saved in the request store; "
        "rerun the same command to resume (only unfinished requests are sent).\n"
    )
    return EXIT_INTERRUPTED


def caused_by_ctrl_c(err: BaseException) -> bool:
    """True if a KeyboardInterrupt is anywhere in `err`'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def disk_full(err: BaseException) -> str | None:
    """The one-line message if a full disk is anywhere in `err`'s cause/context chain, else None."""
    import errno

    from hf_vqa.publish.atomic import FULL_TEXTS, write_error

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        text = str(current)
        if isinstance(current, OSError) and (
            current.errno == errno.ENOSPC or any(t in text for t in FULL_TEXTS)
        ):
            where = (
                getattr(current, "filename", None)
                or os.environ.get("HF_DATASETS_CACHE")
                or "the datasets cache"
            )
            fix = "free some space there, or point HF_DATASETS_CACHE / --cache-dir at another disk"
            return str(write_error(current, where, fix=fix))
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def quiet_workers_on_ctrl_c():
    """Ctrl-C signals the whole process group. Only this process reacts: forked `num_proc` workers
    inherit this handler and ignore it (the pool terminates them), instead of each printing a
    traceback. Returns the previous handler, or None when not on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def on_sigint(signum: int, frame: object) -> None:
        if os.getpid() == parent:
            raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, on_sigint)


def exit_now(code: int) -> None:
    """Exit with `code` without the interpreter's teardown, once what must happen at exit has happened.

    Tearing down a run's few hundred MB of Python objects (datasets, pyarrow, openai, the rows) took
    0.4-0.5 s of CPU after the last line was printed, for memory the OS frees anyway. The atexit
    handlers still run (engines closed, temporary folders removed, logging flushed), the SQLite
    connections are closed (`store.close_all`: the request store's write-ahead log is checkpointed into
    its file, as the teardown did) and stdout/stderr are flushed; with a non-daemon thread still
    running, or under a profiler or tracer, the ordinary exit is used.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler's or tracer's report (cProfile, coverage) is written at the normal exit
    atexit._run_exitfuncs()
    if "hf_vqa.engine.store" in sys.modules:  # SQLite files closed as the teardown would close them:
        sys.modules["hf_vqa.engine.store"].close_all()  # the request store's write-ahead log goes into it
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
