"""A small client for Label Studio's REST API: projects, image uploads, task import, annotation export.

Plain `urllib` (Label Studio is never a dependency of hf_vqa): every call has a deadline for the whole
exchange and a cap on the bytes read; redirects stay on the server's own origin; loopback addresses never
go through a proxy. The token comes from `$LABEL_STUDIO_API_KEY` and is sent only in the `Authorization`
header; it is never part of a URL, a message or a file. Both kinds of Label Studio token work: a legacy
token (`Authorization: Token ...`) and a personal access token (a JWT, exchanged at `/api/token/refresh/`
for a short-lived `Bearer` access token, again when that expires).

Example:
    >>> ls = LabelStudio("http://127.0.0.1:8080")  # doctest: +SKIP
    >>> project = ls.ensure_project("hf_vqa review", labeling_config(article=True))  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from hf_vqa.errors import HfVqaError

__all__ = ["MEDIA_CONFIG", "TOKEN_ENV", "LabelStudio", "LabelStudioError"]

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
MEDIA_CONFIG = '<View><Image name="image" value="$image"/></View>'  # the companion project of the images
_CHUNK = 64 * 1024


class LabelStudioError(HfVqaError):
    """Label Studio refused a call, could not be reached, or answered something unusable."""


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise LabelStudioError("Label Studio redirected to another server; not followed",
                                   received=f"{new.scheme}://{new.netloc}", fix="pass the server's own --url")  # fmt: skip
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LabelStudio:
    """A Label Studio server at `url`; `timeout` seconds and `max_bytes` per call (a reply is read whole).

    The token is read from `$token_env` when a call needs it, and kept out of `repr`.
    """

    def __init__(self, url: str, *, token_env: str = TOKEN_ENV, timeout: float = 120.0,
                 max_bytes: int = 512 * 1024 * 1024) -> None:  # fmt: skip
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LabelStudioError("--url is not an http(s) address", received=url,
                                   fix="pass the server's address, e.g. http://127.0.0.1:8080")  # fmt: skip
        if parts.username or parts.password or parts.query:
            raise LabelStudioError("--url must not carry credentials or a query", received=parts.hostname,
                                   fix=f"pass the bare address; the token goes in ${token_env}")  # fmt: skip
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.host = parts.netloc
        self.token_env, self.timeout, self.max_bytes = token_env, timeout, max_bytes
        handlers: list[Any] = [_SameOrigin()]
        if _loopback(parts.hostname):
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)
        self._access: tuple[str, float] | None = None  # a personal access token's Bearer token, and when

    def __repr__(self) -> str:
        return f"LabelStudio({self.url!r})"

    # --- the calls hf_vqa makes -------------------------------------------------------------------
    def find_project(self, title: str) -> dict | None:
        """The project titled exactly `title`, or None."""
        page = 1
        while True:
            query = urllib.parse.urlencode({"title": title, "page": page, "page_size": 100})
            found = self.call("GET", f"/api/projects/?{query}")
            items = found.get("results", []) if isinstance(found, dict) else found
            for project in items:
                if project.get("title") == title:
                    return project
            if not isinstance(found, dict) or not found.get("next"):
                return None
            page += 1

    def ensure_project(self, title: str, label_config: str) -> tuple[dict, bool]:
        """The project titled `title` with `label_config` (created, or its config updated); (project, created)."""
        project = self.find_project(title)
        if project is None:
            body = {"title": title, "label_config": label_config,
                    "description": "Question-answer pairs made by hf_vqa, for people to check (see hf_vqa's docs/review.md)."}  # fmt: skip
            return self.call("POST", "/api/projects/", body), True
        if project.get("label_config") != label_config:
            project = self.call("PATCH", f"/api/projects/{project['id']}/", {"label_config": label_config})
        return project, False

    def upload_images(self, project_id: int, files: list[tuple[str, bytes]]) -> dict[str, str]:
        """Upload image files to a project (no tasks are made from them); {file name: URL the editor loads}.

        Label Studio takes direct uploads only into a project whose config has one data key, so the
        review's images go to a companion project (`MEDIA_CONFIG`); the review's tasks point at them.
        """
        if not files:
            return {}
        boundary = uuid.uuid4().hex
        body = bytearray()
        for k, (name, data) in enumerate(files):
            body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file{k}"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
            body += data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        kind = f"multipart/form-data; boundary={boundary}"
        done = self.call(
            "POST", f"/api/projects/{project_id}/import?commit_to_project=false", bytes(body), kind
        )
        ids = done.get("file_upload_ids") if isinstance(done, dict) else None
        if not isinstance(ids, list) or len(ids) != len(files):
            raise LabelStudioError("Label Studio did not take every image", received=str(done)[:200],
                                   fix="check the server's log; the images must be JPEG, PNG, GIF, BMP or WEBP")  # fmt: skip
        query = urllib.parse.urlencode({"ids": json.dumps(ids)})
        stored = self.call("GET", f"/api/projects/{project_id}/file-uploads?{query}")
        urls = {}
        for item in stored if isinstance(stored, list) else []:
            path = str(item.get("file") or "")
            for name, _ in files:  # Label Studio prefixes the name it stores: "<8 hex>-<name>"
                if path.endswith("-" + name):
                    urls[name] = "/data/" + path.lstrip("/")
        if len(urls) != len(files):
            raise LabelStudioError("Label Studio did not list every uploaded image", received=len(urls),
                                   fix="check the server's log and rerun the export (tasks made so far are kept)")  # fmt: skip
        return urls

    def import_tasks(self, project_id: int, tasks: list[dict]) -> int:
        """Create `tasks` (Label Studio's import format) in the project; returns how many were made."""
        if not tasks:
            return 0
        done = self.call("POST", f"/api/projects/{project_id}/import", tasks)
        if isinstance(done, dict) and "import" in done:  # an edition that imports in the background
            return self._wait_import(project_id, done["import"])
        return int(done.get("task_count", 0)) if isinstance(done, dict) else 0

    def export_tasks(self, project_id: int) -> list[dict]:
        """Every task of the project with its annotations, in Label Studio's JSON export format."""
        query = urllib.parse.urlencode({"exportType": "JSON", "download_all_tasks": "true"})
        tasks = self.call("GET", f"/api/projects/{project_id}/export?{query}")
        if not isinstance(tasks, list):
            raise LabelStudioError("the export is not a list of tasks", received=str(tasks)[:200],
                                   fix="check --url points at Label Studio (it answers /api/projects/<id>/export)")  # fmt: skip
        return tasks

    def _wait_import(self, project_id: int, import_id: int) -> int:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            state = self.call("GET", f"/api/projects/{project_id}/imports/{import_id}")
            if state.get("status") == "completed":
                return int(state.get("task_count") or 0)
            if state.get("status") == "failed":
                raise LabelStudioError("Label Studio's import failed", received=state.get("error"),
                                       fix="check the tasks and the server's log")  # fmt: skip
            time.sleep(0.5)
        raise LabelStudioError("Label Studio's import did not finish in time", received=f"{self.timeout:g} s",
                               fix="rerun the export: tasks already made are not made again")  # fmt: skip

    # --- one HTTP exchange ------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, content_type: str | None = None,
             *, auth: bool = True) -> Any:  # fmt: skip
        """One request; the reply's JSON. `body` is JSON unless `content_type` is given (then bytes)."""
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        data = None
        if body is not None:
            data = body if content_type else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type or "application/json"
        if auth:
            headers["Authorization"] = self._authorization()
        status, raw = self._send(method, path, data, headers)
        if status == 401 and auth and self._access is not None:  # an expired access token: once more
            self._access = None
            headers["Authorization"] = self._authorization()
            status, raw = self._send(method, path, data, headers)
        if status >= 400:
            raise self._refused(method, path, status, raw)
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise LabelStudioError(f"{method} {path.split('?')[0]}: the reply is not JSON", received=raw[:120],
                                   fix="check --url points at Label Studio, not another web server") from None  # fmt: skip

    def _send(self, method: str, path: str, data: bytes | None, headers: dict) -> tuple[int, bytes]:
        deadline = time.monotonic() + self.timeout
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        where = f"{method} {self.host}{path.split('?')[0]}"
        try:
            try:
                reply = self._opener.open(request, timeout=self.timeout)
            except urllib.error.HTTPError as err:
                reply = err
            with reply:
                length = reply.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    raise self._too_large(where)
                chunks, size = [], 0
                while chunk := reply.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_large(where)
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    chunks.append(chunk)
                if (
                    length and length.isdigit() and size != int(length)
                ):  # a reply is complete or it is nothing
                    raise LabelStudioError(f"{where}: the reply was cut off", received=f"{size} of {length} bytes",
                                           fix="check the server and the network, and run the command again")  # fmt: skip
                return reply.status or reply.code, b"".join(chunks)
        except LabelStudioError:
            raise
        except (TimeoutError, OSError, http.client.HTTPException) as err:  # HTTPException: a cut-off reply
            reason = getattr(err, "reason", None) or err
            text = "timed out" if isinstance(reason, TimeoutError) else str(reason)
            raise LabelStudioError(f"{where}: Label Studio could not be reached", received=text[:200],
                                   fix=f"check that Label Studio runs at {self.url} (label-studio start), "
                                   f"or allow more time") from None  # fmt: skip

    def _too_large(self, where: str) -> LabelStudioError:
        return LabelStudioError(f"{where}: the reply is larger than the cap", received=f"> {self.max_bytes} bytes",
                                fix="export fewer tasks per project, or raise max_bytes")  # fmt: skip

    def _refused(self, method: str, path: str, status: int, raw: bytes) -> LabelStudioError:
        try:
            detail = json.loads(raw)
            if isinstance(
                detail, dict
            ):  # Label Studio: {"detail": "Validation error", "validation_errors": {...}}
                detail = (
                    " ".join(str(detail[k]) for k in ("detail", "validation_errors") if detail.get(k))
                    or detail
                )
        except ValueError:
            detail = raw[:200].decode("utf-8", "replace")
        fix = {401: f"set ${self.token_env} to a Label Studio token (Account & Settings > Personal Access Token, "
                    "or a legacy token where the organization allows them)",
               403: "the token's user may not do this in that project; use an owner's or admin's token",
               404: "check --url and --project (the project may have been deleted)"}.get(status, "check the server's log")  # fmt: skip
        return LabelStudioError(f"HTTP {status} from Label Studio for {method} {path.split('?')[0]}",
                                received=str(detail)[:300], fix=fix)  # fmt: skip

    def _authorization(self) -> str:
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise LabelStudioError(f"no Label Studio token: ${self.token_env} is not set",
                                   fix=f"export {self.token_env}=<your token> (Label Studio: Account & Settings)")  # fmt: skip
        if token.count(".") != 2 or not token.startswith("eyJ"):
            return f"Token {token}"  # a legacy token
        if self._access is None or time.monotonic() - self._access[1] > 240:  # access tokens live ~5 min
            done = self.call("POST", "/api/token/refresh/", {"refresh": token}, auth=False)
            access = done.get("access") if isinstance(done, dict) else None
            if not access:
                raise LabelStudioError("Label Studio did not exchange the personal access token",
                                       fix=f"check ${self.token_env} (a personal access token from Account & Settings)")  # fmt: skip
            self._access = (access, time.monotonic())
        return f"Bearer {self._access[0]}"
