"""How the command line was started, and how it ends: the exit codes and the commands it prints.

The card's "Reproduce" command, the `--retry-failed` hint and the push-only retry line name the
command the user actually ran: the `hf-vqa` console script, or `python scripts/build_dataset.py`.

Example:
    >>> invocation("/usr/local/bin/hf-vqa"), invocation("scripts/build_dataset.py")
    (['hf-vqa'], ['python', 'scripts/build_dataset.py'])
    >>> command_line(["image-vqa", "--output", "my out"], argv0="hf-vqa")
    "hf-vqa image-vqa --output 'my out'"
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

__all__ = [
    "CONSOLE_SCRIPT",
    "EXIT_BUSY",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PUSH_FAILED",
    "EXIT_USAGE",
    "SCRIPT",
    "command_line",
    "invocation",
]

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # it ran, but not all is done: no input rows, a shard not in, a damaged store
EXIT_USAGE = 2  # bad arguments, unreadable input, a missing key: one line, no traceback
EXIT_PUSH_FAILED = 3  # the output is written, the push failed: retry with push-only
EXIT_BUSY = 75  # EX_TEMPFAIL: another run is writing the same output; try again later
EXIT_INTERRUPTED = 130  # Ctrl-C: rerun the same command to resume

CONSOLE_SCRIPT = "hf-vqa"
SCRIPT = "scripts/build_dataset.py"


def invocation(argv0: str | None = None) -> list[str]:
    """The words that start hf_vqa the way this process was started (`sys.argv[0]` by default).

    `hf-vqa` for the console script; otherwise `python scripts/build_dataset.py` (also when
    `main()` is called from Python, where there is no command to name).
    """
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    if name == CONSOLE_SCRIPT:
        return [CONSOLE_SCRIPT]
    return ["python", SCRIPT]


def command_line(args: list[str], *, argv0: str | None = None) -> str:
    """`args` after the command that started this process, shell-quoted: a line the user can paste.

    The values of `--header`/`--query` are shown as `<hidden>` (they may carry a secret) unless their
    name is public by nature (`HTTP-Referer`, `x-litellm-model`, `api-version`, ...). A URL's user name
    and password never reach it (`config.public_url`).

    Example:
        >>> command_line(["image-vqa", "--header", "api-key=s3cret", "--query=model=gpt-4o"], argv0="hf-vqa")
        "hf-vqa image-vqa --header 'api-key=<hidden>' --query=model=gpt-4o"
    """
    from hf_vqa.config import public_url

    shown = [public_url(str(a)) if "://" in str(a) else str(a) for a in args]
    return shlex.join([*invocation(argv0), *_hide_secrets(shown)])


def _hide_secrets(args: list[str]) -> list[str]:
    from hf_vqa.engine.gateway import shown_value  # light: no engine imports

    out, hide_next = [], False
    for arg in args:
        option, eq, rest = arg.partition("=")
        if hide_next or (eq and option in _SECRET_OPTIONS):
            pair = arg if hide_next else rest
            name, sep, value = pair.partition("=")
            pair = f"{name}={shown_value(name, value)}" if sep else pair
            arg = pair if hide_next else f"{option}={pair}"
            hide_next = False
        elif arg in _SECRET_OPTIONS:
            hide_next = True
        out.append(arg)
    return out


_SECRET_OPTIONS = ("--header", "--query")
