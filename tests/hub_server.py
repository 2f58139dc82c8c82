"""A small Hugging Face Hub-compatible HTTP server on loopback, for tests.

It implements the slice of the Hub API that ``huggingface_hub`` and ``datasets`` use to create repos,
commit files (regular and basic-transfer LFS), list trees and download files. Point the real libraries
at it with ``HF_ENDPOINT`` (and ``HF_HUB_DISABLE_XET=1``). Storage is plain files under ``root``:
``repos/<type>s/<ns>/<name>/revs/<commit>/<path>`` holds every revision's files, ``meta.json`` the refs
and commit log, ``lfs/<sha256>`` every uploaded LFS object and ``failed/<n>/<path>`` the files of
commits rejected by :meth:`HubServer.fail_next_commits`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shutil
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

logger = logging.getLogger("hub_server")

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
LFS_SUFFIXES = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".webp", ".bin", ".safetensors", ".zip", ".gz")
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = b"".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES)
PAGE_SIZE = 1000
_API = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/([a-z-]+)/([^/]+)(/.*)?)?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")
_LFS_BATCH = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+?)\.git/info/lfs/objects/batch$")


def git_sha1(data: bytes) -> str:
    """Git blob id of ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """Git LFS pointer file for an object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    """An HTTP error answered with Hub-style ``X-Error-Code`` / ``X-Error-Message`` headers."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class HubServer:
    """Hub-compatible server on a background thread; see the module docstring."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, str, int]] = []
        self.rejected_tokens: dict[str, int] = {}
        self._fail_commits: list[int] = []
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.endpoint = f"http://{host}:{self._httpd.server_address[1]}"

    def start(self) -> HubServer:
        """Serve requests on a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- test controls -------------------------------------------------------------------------
    def fail_next_commits(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` commit requests with ``status`` (files are kept under ``failed/``)."""
        with self._lock:
            self._fail_commits.extend([status] * n)

    def reject_token(self, token: str, status: int = 401) -> None:
        """Answer every request carrying ``token`` with ``status`` (401 or 403)."""
        self.rejected_tokens[token] = status

    def reset_faults(self) -> None:
        """Forget pending commit failures and rejected tokens."""
        with self._lock:
            self._fail_commits.clear()
            self.rejected_tokens.clear()

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        """Current files (path -> content) of a repo revision."""
        with self._lock:
            meta = self._meta(repo_type + "s", repo_id)
            sha = self._resolve(meta, revision)
            return {p: f.read_bytes() for p, f in self._snapshot(repo_type + "s", repo_id, sha).items()}

    def stored_files(self) -> dict[str, bytes]:
        """Every file the server ever stored (all revisions, LFS objects, rejected commits), by disk path."""
        return {str(p.relative_to(self.root)): p.read_bytes() for p in self.root.rglob("*") if p.is_file()}

    # ----- storage ---------------------------------------------------------------------------------
    def _dir(self, types: str, repo_id: str) -> Path:
        return self.root / "repos" / types / repo_id

    def _meta(self, types: str, repo_id: str) -> dict[str, Any]:
        path = self._dir(types, repo_id) / "meta.json"
        if not path.is_file():
            raise HubError(404, "Repository not found", "RepoNotFound")
        return json.loads(path.read_text())

    def _save(self, types: str, repo_id: str, meta: dict[str, Any]) -> None:
        (self._dir(types, repo_id) / "meta.json").write_text(json.dumps(meta, indent=1))

    @staticmethod
    def _resolve(meta: dict[str, Any], revision: str) -> str:
        if revision in meta["refs"]:
            return meta["refs"][revision]
        if revision in meta["commits"]:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _snapshot(self, types: str, repo_id: str, sha: str) -> dict[str, Path]:
        base = self._dir(types, repo_id) / "revs" / sha
        return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*")) if p.is_file()}

    def create_repo(self, types: str, repo_id: str, private: bool) -> bool:
        """Create a repo with an initial ``.gitattributes`` commit; False if it exists."""
        with self._lock:
            if (self._dir(types, repo_id) / "meta.json").is_file():
                return False
            meta = {"private": private, "createdAt": _now(), "refs": {}, "commits": {}}
            self._dir(types, repo_id).mkdir(parents=True)
            self._save(types, repo_id, meta)
            self.commit(types, repo_id, "main", {"summary": "initial commit"}, [("file", ".gitattributes", GITATTRIBUTES)])
            return True

    def commit(self, types: str, repo_id: str, branch: str, header: dict, ops: list[tuple]) -> str:
        """Apply ``(kind, path, content_or_sha256)`` ops on top of ``branch`` and return the new commit id."""
        with self._lock:
            meta = self._meta(types, repo_id)
            parent = meta["refs"].get(branch)
            if parent is None and meta["commits"]:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if header.get("parentCommit") and header["parentCommit"] != parent:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            sha = hashlib.sha1(f"{repo_id}{parent}{time.time_ns()}{header}".encode()).hexdigest()
            revs = self._dir(types, repo_id) / "revs"
            new = revs / sha
            lfs = dict(meta["commits"][parent]["lfs"]) if parent else {}
            if parent:
                shutil.copytree(revs / parent, new)
            new.mkdir(parents=True, exist_ok=True)
            for kind, path, value in ops:
                target = new / path
                if kind == "deletedFile":
                    if not target.is_file():
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    target.unlink()
                    lfs.pop(path, None)
                elif kind == "deletedFolder":
                    shutil.rmtree(target, ignore_errors=True)
                    lfs = {p: o for p, o in lfs.items() if not p.startswith(path.rstrip("/") + "/")}
                else:
                    if target.is_dir():
                        shutil.rmtree(target)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if kind == "lfsFile":
                        shutil.copyfile(self.root / "lfs" / value, target)
                        lfs[path] = value
                    else:
                        target.write_bytes(value)
                        lfs.pop(path, None)
            title = header.get("summary", "")
            meta["commits"][sha] = {"parent": parent, "title": title, "date": _now(), "lfs": lfs}
            meta["refs"][branch] = sha
            self._save(types, repo_id, meta)
            return sha

    def entry(self, path: str, file: Path | None, lfs_sha: str | None, last: dict | None) -> dict:
        """Tree / paths-info JSON entry for a file (or a directory when ``file`` is None)."""
        if file is None:
            out: dict[str, Any] = {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0}
        else:
            data = file.read_bytes()
            out = {"type": "file", "size": len(data), "oid": git_sha1(data)}
            if lfs_sha:
                ptr = lfs_pointer(lfs_sha, len(data))
                out["oid"] = git_sha1(ptr)
                out["lfs"] = {"oid": lfs_sha, "size": len(data), "pointerSize": len(ptr)}
        out["path"] = path
        if last is not None:
            out["lastCommit"] = last
        return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    # ----- plumbing ----------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)

    def _send(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        if not isinstance(body, bytes):
            body, ctype = json.dumps(body).encode(), "application/json"
        else:
            ctype = "application/octet-stream"
        self.send_response(status)
        for key, value in {"Content-Type": ctype, "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hub.requests.append((self.command, self.url.path, status))

    def _dispatch(self) -> None:
        self.url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(self.url.query).items()}
        self.body = self._read_body()
        try:
            header = self.headers.get("Authorization", "")
            self.token = header[7:].strip() if header.startswith("Bearer ") else None
            if self.token in self.hub.rejected_tokens:
                raise HubError(self.hub.rejected_tokens[self.token], "Invalid credentials in Authorization header")
            self._route()
        except HubError as err:
            headers = {"X-Error-Message": err.message, **({"X-Error-Code": err.code} if err.code else {})}
            self._send(err.status, {"error": err.message}, headers)
        except Exception as err:  # a bug here must show up as a 500, not a hung client
            logger.exception("hub server error")
            self._send(500, {"error": f"{type(err).__name__}: {err}"})

    def _route(self) -> None:
        method, path = self.command, self.url.path
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo()
        if method == "DELETE" and path == "/api/repos/delete":
            return self._delete_repo()
        if method == "GET" and path == "/api/whoami-v2":
            self._need_token()
            return self._send(200, {"type": "user", "name": "tester", "orgs": [], "auth": {"type": "access_token"}})
        if method == "POST" and path == "/api/validate-yaml":
            return self._send(200, {"errors": [], "warnings": []})
        if method == "PUT" and path.startswith("/lfs-upload/"):
            return self._lfs_upload(path.rsplit("/", 1)[1])
        if method == "POST" and path.startswith("/lfs-verify/"):
            obj = self.hub.root / "lfs" / path.rsplit("/", 1)[1]
            return self._send(200 if obj.is_file() else 404, {"ok": obj.is_file()})
        if (m := _LFS_BATCH.match(path)) and method == "POST":
            return self._lfs_batch(m.group(1) or "models", f"{m.group(2)}/{m.group(3)}")
        if (m := _RESOLVE.match(path)) and method in ("GET", "HEAD"):
            types, repo_id = m.group(1) or "models", f"{m.group(2)}/{m.group(3)}"
            return self._resolve_file(types, repo_id, unquote(m.group(4)), unquote(m.group(5)))
        if m := _API.match(path):
            types, repo_id, action = m.group(1), f"{m.group(2)}/{m.group(3)}", m.group(4)
            rev, rest = unquote(m.group(5) or "main"), unquote(m.group(6) or "").strip("/")
            handler = {
                (None, "GET"): self._repo_info,
                ("revision", "GET"): self._repo_info,
                ("tree", "GET"): self._tree,
                ("paths-info", "POST"): self._paths_info,
                ("preupload", "POST"): self._preupload,
                ("commit", "POST"): self._commit,
                ("branch", "POST"): self._branch,
            }.get((action, method))
            if handler is not None:
                return handler(types, repo_id, rev, rest)
        raise HubError(404, f"Not implemented by the test hub: {method} {path}")

    # ----- auth ------------------------------------------------------------------------------------
    def _need_token(self) -> None:
        if not self.token:
            raise HubError(401, "Unauthorized: a token is required")

    def _repo(self, types: str, repo_id: str, write: bool = False) -> dict[str, Any]:
        meta = self.hub._meta(types, repo_id)
        if (meta["private"] or write) and not self.token:
            raise HubError(401, "Repository not found", "RepoNotFound")
        return meta

    # ----- repo management ------------------------------------------------------------------------
    def _create_repo(self) -> None:
        self._need_token()
        payload = json.loads(self.body)
        types = (payload.get("type") or "model") + "s"
        repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
        private = payload.get("visibility", "private" if payload.get("private") else "public") != "public"
        prefix = "" if types == "models" else f"{types}/"
        url = f"{self.hub.endpoint}/{prefix}{repo_id}"
        if not self.hub.create_repo(types, repo_id, private):
            raise HubError(409, "You already created this repo")
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        self._need_token()
        payload = json.loads(self.body)
        types = (payload.get("type") or "model") + "s"
        repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
        with self.hub._lock:
            self.hub._meta(types, repo_id)
            shutil.rmtree(self.hub._dir(types, repo_id))
        self._send(200, {})

    def _branch(self, types: str, repo_id: str, branch: str, _rest: str) -> None:
        with self.hub._lock:
            meta = self._repo(types, repo_id, write=True)
            if branch in meta["refs"]:
                raise HubError(409, f"Reference already exists: {branch}")
            start = (json.loads(self.body) if self.body else {}).get("startingPoint") or "main"
            meta["refs"][branch] = self.hub._resolve(meta, start)
            self.hub._save(types, repo_id, meta)
        self._send(200, {})

    # ----- reads -----------------------------------------------------------------------------------
    def _last_commit(self, meta: dict, sha: str) -> dict:
        return {"id": sha, "title": meta["commits"][sha]["title"], "date": meta["commits"][sha]["date"]}

    def _repo_info(self, types: str, repo_id: str, rev: str, _rest: str) -> None:
        with self.hub._lock:
            meta = self._repo(types, repo_id)
            sha = self.hub._resolve(meta, rev)
            snap, lfs = self.hub._snapshot(types, repo_id, sha), meta["commits"][sha]["lfs"]
            siblings = []
            for path, file in snap.items():
                sibling: dict[str, Any] = {"rfilename": path}
                if self.query.get("blobs", "").lower() == "true":
                    entry = self.hub.entry(path, file, lfs.get(path), None)
                    sibling.update(size=entry["size"], blobId=entry["oid"])
                    if "lfs" in entry:
                        sibling["lfs"] = {"sha256": lfs[path], "size": entry["size"], "pointerSize": 0}
                siblings.append(sibling)
            card = {}
            if "README.md" in snap and (m := re.match(r"^---\n(.*?)\n---", snap["README.md"].read_text(), re.S)):
                card = yaml.safe_load(m.group(1)) or {}
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "private": meta["private"],
            "gated": False,
            "disabled": False,
            "createdAt": meta["createdAt"],
            "lastModified": meta["commits"][sha]["date"],
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "cardData": card,
            "siblings": siblings,
        }
        self._send(200, info)

    def _listing(self, types: str, repo_id: str, rev: str) -> tuple[dict, str, dict[str, Path], dict]:
        meta = self._repo(types, repo_id)
        sha = self.hub._resolve(meta, rev)
        return meta, sha, self.hub._snapshot(types, repo_id, sha), meta["commits"][sha]["lfs"]

    def _tree(self, types: str, repo_id: str, rev: str, rest: str) -> None:
        expand = self.query.get("expand", "").lower() == "true"
        recursive = self.query.get("recursive", "").lower() == "true"
        with self.hub._lock:
            meta, sha, snap, lfs = self._listing(types, repo_id, rev)
            last = self._last_commit(meta, sha) if expand else None
            prefix = f"{rest}/" if rest else ""
            under = [p for p in snap if p.startswith(prefix)]
            if rest and not under:
                raise HubError(404, f"Entry not found: {rest}", "EntryNotFound")
            dirs: set[str] = set()
            files = []
            for path in under:
                parts = path[len(prefix) :].split("/")
                depth = len(parts) if recursive else 1
                dirs.update(prefix + "/".join(parts[: i + 1]) for i in range(min(depth, len(parts) - 1)))
                if recursive or len(parts) == 1:
                    files.append(self.hub.entry(path, snap[path], lfs.get(path), last))
            entries = [self.hub.entry(d, None, None, last) for d in sorted(dirs)] + files
        start = int(self.query.get("cursor", 0))
        size = 50 if expand else PAGE_SIZE
        headers = {}
        if start + size < len(entries):
            query = f"recursive={recursive}&expand={expand}&cursor={start + size}"
            headers["Link"] = f'<{self.hub.endpoint}{self.url.path}?{query}>; rel="next"'
        self._send(200, entries[start : start + size], headers)

    def _paths_info(self, types: str, repo_id: str, rev: str, _rest: str) -> None:
        if "json" in self.headers.get("Content-Type", ""):
            payload = json.loads(self.body)
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(self.body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["False"])[-1].lower() == "true"
        with self.hub._lock:
            meta, sha, snap, lfs = self._listing(types, repo_id, rev)
            last = self._last_commit(meta, sha) if expand else None
            out = []
            for path in (p.strip("/") for p in paths):
                if path in snap:
                    out.append(self.hub.entry(path, snap[path], lfs.get(path), last))
                elif any(p.startswith(path + "/") for p in snap) or path == "":
                    out.append(self.hub.entry(path, None, None, last))
        self._send(200, out)

    def _resolve_file(self, types: str, repo_id: str, rev: str, path: str) -> None:
        with self.hub._lock:
            meta, sha, snap, lfs = self._listing(types, repo_id, rev)
            if path not in snap:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
            data = snap[path].read_bytes()
        etag = lfs.get(path) or git_sha1(data)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if path in lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        status, rng = 200, self.headers.get("Range")
        if rng and (m := re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())):
            start = int(m.group(1)) if m.group(1) else max(len(data) - int(m.group(2)), 0)
            end = int(m.group(2)) if m.group(1) and m.group(2) else len(data) - 1
            if start >= len(data):
                raise HubError(416, "Range not satisfiable")
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            status, data = 206, data[start : end + 1]
        self._send(status, data, headers)

    # ----- writes ----------------------------------------------------------------------------------
    def _preupload(self, types: str, repo_id: str, rev: str, _rest: str) -> None:
        with self.hub._lock:
            meta, sha, snap, lfs = self._listing(types, repo_id, rev)
            self._repo(types, repo_id, write=True)
            out = []
            for item in json.loads(self.body)["files"]:
                path, size = item["path"], item["size"]
                binary = b"\0" in base64.b64decode(item.get("sample", ""))
                is_lfs = path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE or binary
                oid = None
                if path in snap:
                    oid = lfs.get(path) or git_sha1(snap[path].read_bytes())
                out.append({"path": path, "uploadMode": "lfs" if is_lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": out, "commitOid": sha})

    def _lfs_batch(self, types: str, repo_id: str) -> None:
        self._repo(types, repo_id, write=True)
        objects = []
        for obj in json.loads(self.body)["objects"]:
            oid, size = obj["oid"], obj["size"]
            stored = self.hub.root / "lfs" / oid
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not (stored.is_file() and stored.stat().st_size == size):
                item["actions"] = {
                    "upload": {"href": f"{self.hub.endpoint}/lfs-upload/{oid}"},
                    "verify": {"href": f"{self.hub.endpoint}/lfs-verify/{oid}"},
                }
            objects.append(item)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _lfs_upload(self, oid: str) -> None:
        if hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, "sha256 mismatch")
        (self.hub.root / "lfs").mkdir(exist_ok=True)
        (self.hub.root / "lfs" / oid).write_bytes(self.body)
        self._send(200, b"", {"ETag": f'"{oid}"'})

    def _commit(self, types: str, repo_id: str, rev: str, _rest: str) -> None:
        self._repo(types, repo_id, write=True)
        if self.query.get("create_pr"):
            raise HubError(400, "create_pr is not supported by the test hub")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        header = next((ln["value"] for ln in lines if ln["key"] == "header"), {})
        ops: list[tuple] = []
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                ops.append(("file", value["path"], base64.b64decode(value["content"])))
            elif key == "lfsFile":
                if not (self.hub.root / "lfs" / value["oid"]).is_file():
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was not uploaded")
                ops.append(("lfsFile", value["path"], value["oid"]))
            elif key in ("deletedFile", "deletedFolder"):
                ops.append((key, value["path"], None))
        with self.hub._lock:
            status = self.hub._fail_commits.pop(0) if self.hub._fail_commits else None
            if status is not None:
                failed = self.hub.root / "failed" / f"{len(self.hub.requests):06d}-{repo_id.replace('/', '--')}"
                for kind, path, value in ops:
                    if kind == "file":
                        (failed / path).parent.mkdir(parents=True, exist_ok=True)
                        (failed / path).write_bytes(value)
                raise HubError(status, f"Injected commit failure ({status})")
            sha = self.hub.commit(types, repo_id, rev, header, ops)
        prefix = "" if types == "models" else f"{types}/"
        url = f"{self.hub.endpoint}/{prefix}{repo_id}/commit/{sha}"
        self._send(200, {"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None})
