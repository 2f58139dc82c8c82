"""One commit on the Hub, safely: on top of the head it read, retried when another machine's commit got
there first, and any failure turned into one `HubError` line (what failed, the HTTP status, the fix).

`hub.py` says what goes into a commit; this says how it gets in. The token is never printed: it is
masked out of any message the Hub or the network sends back.

Example:
    >>> with hub_errors("me/my-vqa", token=None):  # doctest: +SKIP
    ...     commit_with_retry(HfApi(), "me/my-vqa", lambda parent, readme, remote: ops, "Upload train")
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import HfApi, constants, hf_hub_download

from hf_vqa.errors import HubError
from hf_vqa.publish.card_secrets import redact

__all__ = [
    "CONFLICT_ATTEMPTS",
    "CONFLICT_BACKOFF",
    "REPO_TYPE",
    "commit_with_retry",
    "hub_errors",
    "status_of",
]

CONFLICT_ATTEMPTS = 8
CONFLICT_BACKOFF = 0.2  # seconds, times the attempt number, times 1..2 (jitter)
REPO_TYPE = "dataset"


def commit_with_retry(api: HfApi, repo_id: str, operations, message: str) -> None:
    """Commit on top of the current head; re-read and retry when another commit got there first."""
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(CONFLICT_ATTEMPTS):
        parent = api.repo_info(repo_id, repo_type=REPO_TYPE).sha
        remote = api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=parent)
        readme = None
        if "README.md" in remote:
            path = hf_hub_download(
                repo_id, "README.md", repo_type=REPO_TYPE, revision=parent, token=api.token
            )
            readme = Path(path).read_text(encoding="utf-8")
        ops = operations(parent, readme, remote)
        try:
            api.create_commit(repo_id, ops, commit_message=message, repo_type=REPO_TYPE, parent_commit=parent)
            return
        except HfHubHTTPError as err:
            if status_of(err) not in (409, 412) or attempt == CONFLICT_ATTEMPTS - 1:
                raise
            time.sleep(CONFLICT_BACKOFF * (attempt + 1) * (1 + random.random()))


def status_of(err: BaseException) -> int | None:
    return getattr(getattr(err, "response", None), "status_code", None)


@contextmanager
def hub_errors(repo_id: str, token: str | None) -> Iterator[None]:
    """Turn any Hub or network failure into one `HubError` line: what, status, how to fix."""
    try:
        yield
    except HubError:
        raise
    except Exception as err:
        from huggingface_hub.errors import HfHubHTTPError

        try:
            from httpx2 import HTTPError as NetError
        except ImportError:  # pragma: no cover - older huggingface_hub
            from httpx import HTTPError as NetError
        if not isinstance(err, (HfHubHTTPError, NetError, ConnectionError)):
            raise
        status = status_of(err)
        server = getattr(err, "server_message", None) or str(err).splitlines()[0]
        retry = "nothing local was changed, so retrying re-sends the same files"
        if status in (401, 403, 404):
            what = "the Hub refused the token" if status != 404 else "the repo was not found for this token"
            fix = f"run `hf auth login` or set HF_TOKEN to a token with write access to {repo_id}; {retry}"
        elif status in (409, 412):
            what, fix = "other commits kept changing the repo at the same time", f"retry the push; {retry}"
        elif status is not None and status >= 500:
            what, fix = "the Hub had a server error", f"retry the push in a moment; {retry}"
        elif status is not None:
            what, fix = "the Hub rejected the push", f"check the repo id and the message; {retry}"
        else:
            what = f"could not reach the Hub at {constants.ENDPOINT}"
            fix = f"check the network (and HF_ENDPOINT), then retry; {retry}"
        received = f"HTTP {status}: {server}" if status else f"{type(err).__name__}: {server}"
        received = redact(received.replace(token, "***") if token else received)
        hub_error = HubError(f"push to {repo_id} failed: {what}", received=received, fix=fix, status=status)
        raise hub_error from None
