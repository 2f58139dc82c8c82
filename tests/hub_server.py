"""A small Hugging Face Hub-compatible HTTP server on loopback, for tests.

It implements the slice of the Hub API that ``huggingface_hub`` and ``datasets`` use to create repos, commit
files (regular and basic-transfer LFS), list trees and download files; point the real libraries at it with
``HF_ENDPOINT`` and ``HF_HUB_DISABLE_XET=1``. Storage is plain files under ``root``:
``repos/<type>s/<ns>/<name>/revs/<commit>/<path>`` holds every revision's files, ``meta.json`` the refs and
the commit log, ``lfs/<sha256>`` every uploaded LFS object and ``failed/`` the files of rejected commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
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

LFS_SUFFIXES = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".webp", ".bin", ".safetensors", ".zip", ".gz")
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = b"".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES)
PAGE_SIZE = 1000  # tree entries per page (50 with expand=True), as on the Hub
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+?)"
_API = r"/api/(?P<types>models|datasets|spaces)/" + _REPO
_WEB = r"/(?:(?P<types>datasets|spaces)/)?" + _REPO
_ROUTES = [
    (method, re.compile(f"^{pattern}$"), handler)
    for method, pattern, handler in [
        ("POST", "/api/repos/create", "_create_repo"),
        ("DELETE", "/api/repos/delete", "_delete_repo"),
        ("GET", "/api/whoami-v2", "_whoami"),
        ("POST", "/api/validate-yaml", "_validate_yaml"),
        ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "_lfs_upload"),
        ("POST", r"/lfs-verify/(?P<oid>[0-9a-f]{64})", "_lfs_verify"),
        ("POST", _WEB + r"\.git/info/lfs/objects/batch", "_lfs_batch"),
        ("GET HEAD", _WEB + "/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "_resolve_file"),
        ("GET", _API + "(?:/revision/(?P<rev>[^/]+))?", "_repo_info"),
        ("GET", _API + "/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "_tree"),
        ("POST", _API + "/paths-info/(?P<rev>[^/]+)", "_paths_info"),
        ("POST", _API + "/preupload/(?P<rev>[^/]+)", "_preupload"),
        ("POST", _API + "/commit/(?P<rev>[^/]+)", "_commit"),
        ("POST", _API + "/branch/(?P<rev>[^/]+)", "_branch"),
    ]
]


def git_sha1(data: bytes) -> str:
    """Git blob id of ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """Git LFS pointer file of an object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    """An error answered with the Hub's ``X-Error-Code`` / ``X-Error-Message`` headers."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class HubServer:
    """Hub-compatible server on a daemon thread; see the module docstring."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, str, int]] = []
        self.rejected_tokens: dict[str, int] = {}
        self.read_only_tokens: set[str] = set()  # whoami and reads work; writes get 403
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

    def fail_next_commits(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` commit requests with ``status``; their files are kept under ``failed/``."""
        with self._lock:
            self._fail_commits.extend([status] * n)

    def reject_token(self, token: str, status: int = 401, *, reads_ok: bool = False) -> None:
        """Answer every request carrying ``token`` with ``status`` (401 or 403); with ``reads_ok``, only
        writes (POST/PUT/DELETE) are refused, as for a read-only token that `whoami` still accepts."""
        if reads_ok:
            self.read_only_tokens.add(token)
        self.rejected_tokens[token] = status

    def reset_faults(self) -> None:
        """Forget pending commit failures and rejected tokens."""
        with self._lock:
            self._fail_commits.clear()
            self.rejected_tokens.clear()
            self.read_only_tokens.clear()

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        """Files (path -> content) of a repo at ``revision``."""
        with self._lock:
            sha = self.resolve(self.meta(repo_type + "s", repo_id), revision)
            return {p: f.read_bytes() for p, f in self.snapshot(repo_type + "s", repo_id, sha).items()}

    def stored_files(self) -> dict[str, bytes]:
        """Every file the server stored (all revisions, LFS objects, rejected commits), by path under root."""
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes() for p in self.root.rglob("*") if p.is_file()
        }

    # ----- storage ---------------------------------------------------------------------------------
    def repo_dir(self, types: str, repo_id: str) -> Path:
        return self.root / "repos" / types / repo_id

    def meta(self, types: str, repo_id: str) -> dict[str, Any]:
        path = self.repo_dir(types, repo_id) / "meta.json"
        if not path.is_file():
            raise HubError(404, "Repository not found", "RepoNotFound")
        return json.loads(path.read_text())

    def save(self, types: str, repo_id: str, meta: dict[str, Any]) -> None:
        """Replace meta.json atomically: handlers read it outside the lock, so never show half a file."""
        path = self.repo_dir(types, repo_id) / "meta.json"
        tmp = path.with_name(f"meta.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, path)

    @staticmethod
    def resolve(meta: dict[str, Any], revision: str) -> str:
        """Commit id of a branch name or commit id."""
        sha = meta["refs"].get(revision) or (revision if revision in meta["commits"] else None)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    def snapshot(self, types: str, repo_id: str, sha: str) -> dict[str, Path]:
        base = self.repo_dir(types, repo_id) / "revs" / sha
        return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*")) if p.is_file()}

    def create_repo(self, types: str, repo_id: str, private: bool) -> bool:
        """Create a repo with an initial ``.gitattributes`` commit; False if it already exists."""
        with self._lock:
            if (self.repo_dir(types, repo_id) / "meta.json").is_file():
                return False
            self.repo_dir(types, repo_id).mkdir(parents=True)
            self.save(types, repo_id, {"private": private, "createdAt": _now(), "refs": {}, "commits": {}})
            self.commit(
                types,
                repo_id,
                "main",
                {"summary": "initial commit"},
                [("file", ".gitattributes", GITATTRIBUTES)],
            )
            return True

    def commit(self, types: str, repo_id: str, branch: str, header: dict, ops: list[tuple]) -> str:
        """Apply ``(kind, path, bytes | sha256 | None)`` ops on top of ``branch``; return the commit id."""
        with self._lock:
            meta = self.meta(types, repo_id)
            parent = meta["refs"].get(branch)
            if parent is None and meta["commits"]:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if header.get("parentCommit") and header["parentCommit"] != parent:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            sha = hashlib.sha1(f"{repo_id}{parent}{time.time_ns()}{header}".encode()).hexdigest()
            revs = self.repo_dir(types, repo_id) / "revs"
            lfs = dict(meta["commits"][parent]["lfs"]) if parent else {}
            if parent:
                shutil.copytree(revs / parent, revs / sha)
            (revs / sha).mkdir(parents=True, exist_ok=True)
            for kind, path, value in ops:
                target = revs / sha / path
                if kind == "deletedFile" and not target.is_file():
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                if kind == "deletedFolder" or target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                    lfs = {p: o for p, o in lfs.items() if not p.startswith(path.rstrip("/") + "/")}
                lfs.pop(path, None)
                if kind == "deletedFile":
                    target.unlink()
                elif kind in ("file", "lfsFile"):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if kind == "lfsFile":
                        shutil.copyfile(self.root / "lfs" / value, target)
                        lfs[path] = value
                    else:
                        target.write_bytes(value)
            meta["commits"][sha] = {
                "parent": parent,
                "title": header.get("summary", ""),
                "date": _now(),
                "lfs": lfs,
            }
            meta["refs"][branch] = sha
            self.save(types, repo_id, meta)
            return sha

    @staticmethod
    def entry(path: str, file: Path | None, lfs_sha: str | None, last: dict | None) -> dict[str, Any]:
        """Tree / paths-info entry of a file, or of a directory when ``file`` is None."""
        out: dict[str, Any] = {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0}
        if file is not None:
            data = file.read_bytes()
            out = {"type": "file", "size": len(data), "oid": git_sha1(data)}
            if lfs_sha:
                pointer = lfs_pointer(lfs_sha, len(data))
                out["oid"] = git_sha1(pointer)
                out["lfs"] = {"oid": lfs_sha, "size": len(data), "pointerSize": len(pointer)}
        out["path"] = path
        return {**out, "lastCommit": last} if last else out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def do_GET(self) -> None:
        self.hub: HubServer = self.server.hub  # type: ignore[attr-defined]
        self.url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(self.url.query).items()}
        self.body = self._read_body()
        try:
            auth = self.headers.get("Authorization", "")
            self.token = auth[7:].strip() if auth.startswith("Bearer ") else None
            reading = self.command in ("GET", "HEAD") or self.url.path == "/api/whoami-v2"
            if self.token in self.hub.rejected_tokens and not (
                reading and self.token in self.hub.read_only_tokens
            ):
                raise HubError(
                    self.hub.rejected_tokens[self.token], "Invalid credentials in Authorization header"
                )
            for method, pattern, handler in _ROUTES:
                if self.command in method.split() and (m := pattern.match(self.url.path)):
                    args = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
                    self.types = args.get("types", "models")
                    self.repo_id = f"{args.get('ns')}/{args.get('name')}"
                    self.rev, self.rest = args.get("rev", "main"), args.get("path", "").strip("/")
                    self.oid = args.get("oid", "")
                    return getattr(self, handler)()
            raise HubError(404, f"Not implemented by the test hub: {self.command} {self.url.path}")
        except HubError as err:
            headers = {"X-Error-Message": err.message, **({"X-Error-Code": err.code} if err.code else {})}
            self._send(err.status, {"error": err.message}, headers)
        except Exception as err:  # a bug here must surface as a 500, not as a hung client
            logger.exception("hub server error")
            self._send(500, {"error": f"{type(err).__name__}: {err}"})

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

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
        ctype = "application/octet-stream" if isinstance(body, bytes) else "application/json"
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.hub.requests.append((self.command, self.url.path, status))  # before the client can see it
        self.send_response(status)
        headers = {"Content-Type": ctype, "Content-Length": str(len(body)), **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self) -> Any:
        return json.loads(self.body or b"{}")

    def _open(self, write: bool = False) -> tuple[dict, str, dict[str, Path], dict[str, str]]:
        """Check access to the repo; return its meta, the commit of ``self.rev``, its files and LFS oids."""
        meta = self.hub.meta(self.types, self.repo_id)
        if (meta["private"] or write) and not self.token:
            raise HubError(401, "Repository not found", "RepoNotFound")
        sha = self.hub.resolve(meta, self.rev)
        return meta, sha, self.hub.snapshot(self.types, self.repo_id, sha), meta["commits"][sha]["lfs"]

    def _last_commit(self, meta: dict, sha: str) -> dict | None:
        if self.query.get("expand", "").lower() != "true":
            return None
        return {"id": sha, "title": meta["commits"][sha]["title"], "date": meta["commits"][sha]["date"]}

    # ----- account and repo management -------------------------------------------------------------
    def _whoami(self) -> None:
        if not self.token:
            raise HubError(401, "Invalid credentials in Authorization header")
        self._send(200, {"type": "user", "name": "tester", "orgs": [], "auth": {"type": "access_token"}})

    def _validate_yaml(self) -> None:
        self._send(200, {"errors": [], "warnings": []})

    def _repo_payload(self) -> tuple[str, str, dict]:
        if not self.token:
            raise HubError(401, "Invalid credentials in Authorization header")
        payload = self._json()
        return (
            (payload.get("type") or "model") + "s",
            f"{payload.get('organization') or 'tester'}/{payload['name']}",
            payload,
        )

    def _create_repo(self) -> None:
        types, repo_id, payload = self._repo_payload()
        private = payload.get("visibility", "private" if payload.get("private") else "public") != "public"
        url = f"{self.hub.endpoint}/{'' if types == 'models' else types + '/'}{repo_id}"
        if not self.hub.create_repo(types, repo_id, private):  # the client reads the url even on a 409
            message = "You already created this repo"
            return self._send(409, {"error": message, "url": url}, {"X-Error-Message": message})
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        types, repo_id, _ = self._repo_payload()
        with self.hub._lock:
            self.hub.meta(types, repo_id)
            shutil.rmtree(self.hub.repo_dir(types, repo_id))
        self._send(200, {})

    def _branch(self) -> None:
        with self.hub._lock:
            branch, self.rev = self.rev, self._json().get("startingPoint") or "main"
            meta, sha, _, _ = self._open(write=True)
            if branch in meta["refs"]:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            meta["refs"][branch] = sha
            self.hub.save(self.types, self.repo_id, meta)
        self._send(200, {})

    # ----- reads -----------------------------------------------------------------------------------
    def _repo_info(self) -> None:
        with self.hub._lock:
            meta, sha, snap, lfs = self._open()
            siblings = []
            for path, file in snap.items():
                sibling: dict[str, Any] = {"rfilename": path}
                if self.query.get("blobs", "").lower() == "true":
                    entry = self.hub.entry(path, file, lfs.get(path), None)
                    sibling.update(size=entry["size"], blobId=entry["oid"])
                    if "lfs" in entry:
                        sibling["lfs"] = {"sha256": lfs[path], "size": entry["size"], "pointerSize": 0}
                siblings.append(sibling)
            readme = snap["README.md"].read_text() if "README.md" in snap else ""
            card = re.match(r"^---\n(.*?)\n---", readme, re.S)
        info = {"id": self.repo_id, "sha": sha, "private": meta["private"], "createdAt": meta["createdAt"]}
        info.update(author=self.repo_id.split("/")[0], lastModified=meta["commits"][sha]["date"], gated=False)
        self._send(200, {**info, "cardData": yaml.safe_load(card[1]) if card else {}, "siblings": siblings})

    def _tree(self) -> None:
        recursive = self.query.get("recursive", "").lower() == "true"
        with self.hub._lock:
            meta, sha, snap, lfs = self._open()
            last = self._last_commit(meta, sha)
            prefix = f"{self.rest}/" if self.rest else ""
            under = [p for p in snap if p.startswith(prefix)]
            if self.rest and not under:
                raise HubError(404, f"Entry not found: {self.rest}", "EntryNotFound")
            dirs: set[str] = set()
            files = []
            for path in under:
                parts = path[len(prefix) :].split("/")
                dirs.update(
                    prefix + "/".join(parts[: i + 1]) for i in range(len(parts) - 1 if recursive else 0)
                )
                if len(parts) > 1 and not recursive:
                    dirs.add(prefix + parts[0])
                elif recursive or len(parts) == 1:
                    files.append(self.hub.entry(path, snap[path], lfs.get(path), last))
            entries = [self.hub.entry(d, None, None, last) for d in sorted(dirs)] + files
        start, size = int(self.query.get("cursor", 0)), 50 if last else PAGE_SIZE
        headers = {}
        if start + size < len(entries):
            query = f"recursive={recursive}&expand={bool(last)}&cursor={start + size}"
            headers["Link"] = f'<{self.hub.endpoint}{self.url.path}?{query}>; rel="next"'
        self._send(200, entries[start : start + size], headers)

    def _paths_info(self) -> None:
        if "json" in self.headers.get("Content-Type", ""):
            payload = self._json()
            paths, self.query["expand"] = payload.get("paths", []), str(payload.get("expand"))
        else:
            form = parse_qs(self.body.decode())
            paths, self.query["expand"] = form.get("paths", []), form.get("expand", ["False"])[-1]
        with self.hub._lock:
            meta, sha, snap, lfs = self._open()
            last, out = self._last_commit(meta, sha), []
            for path in (p.strip("/") for p in paths):
                if path in snap:
                    out.append(self.hub.entry(path, snap[path], lfs.get(path), last))
                elif path == "" or any(p.startswith(path + "/") for p in snap):
                    out.append(self.hub.entry(path, None, None, last))
        self._send(200, out)

    def _resolve_file(self) -> None:
        with self.hub._lock:
            _, sha, snap, lfs = self._open()
            if self.rest not in snap:
                raise HubError(404, f"Entry not found: {self.rest}", "EntryNotFound")
            data = snap[self.rest].read_bytes()
        etag = lfs.get(self.rest) or git_sha1(data)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if self.rest in lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        status, match = 200, re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if match and match.group(0) != "bytes=-":
            first, last = match.groups()
            start = int(first) if first else max(len(data) - int(last), 0)
            end = min(int(last) if first and last else len(data) - 1, len(data) - 1)
            if start >= len(data):
                raise HubError(416, "Range not satisfiable")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            status, data = 206, data[start : end + 1]
        self._send(status, data, headers)

    # ----- writes ----------------------------------------------------------------------------------
    def _preupload(self) -> None:
        with self.hub._lock:
            _, sha, snap, lfs = self._open(write=True)
            out = []
            for item in self._json()["files"]:
                path, size = item["path"], item["size"]
                binary = b"\0" in base64.b64decode(item.get("sample", ""))
                mode = "lfs" if path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE or binary else "regular"
                oid = (lfs.get(path) or git_sha1(snap[path].read_bytes())) if path in snap else None
                out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": out, "commitOid": sha})

    def _lfs_batch(self) -> None:
        self._open(write=True)
        objects = []
        for obj in self._json()["objects"]:
            item: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            stored = self.hub.root / "lfs" / obj["oid"]
            if not (stored.is_file() and stored.stat().st_size == obj["size"]):
                item["actions"] = {
                    "upload": {"href": f"{self.hub.endpoint}/lfs-upload/{obj['oid']}"},
                    "verify": {"href": f"{self.hub.endpoint}/lfs-verify/{obj['oid']}"},
                }
            objects.append(item)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _lfs_upload(self) -> None:
        if hashlib.sha256(self.body).hexdigest() != self.oid:
            raise HubError(400, "sha256 mismatch")
        (self.hub.root / "lfs").mkdir(exist_ok=True)
        (self.hub.root / "lfs" / self.oid).write_bytes(self.body)
        self._send(200, b"", {"ETag": f'"{self.oid}"'})

    def _lfs_verify(self) -> None:
        if not (self.hub.root / "lfs" / self.oid).is_file():
            raise HubError(404, f"LFS object {self.oid} not found")
        self._send(200, {})

    def _commit(self) -> None:
        self._open(write=True)
        if self.query.get("create_pr"):
            raise HubError(400, "create_pr is not supported by the test hub")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        header, ops = {}, []
        for key, value in ((line["key"], line["value"]) for line in lines):
            if key == "header":
                header = value
            elif key == "file":
                ops.append(("file", value["path"], base64.b64decode(value["content"])))
            elif key == "lfsFile":
                if not (self.hub.root / "lfs" / value["oid"]).is_file():
                    raise HubError(422, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                ops.append(("lfsFile", value["path"], value["oid"]))
            elif key in ("deletedFile", "deletedFolder"):
                ops.append((key, value["path"], None))
        with self.hub._lock:
            if self.hub._fail_commits:
                status = self.hub._fail_commits.pop(0)
                number = len(list(self.hub.root.glob("failed/*")))
                failed = self.hub.root / "failed" / f"{number:04d}-{self.repo_id.replace('/', '--')}"
                for _, path, value in (op for op in ops if op[0] == "file"):
                    (failed / path).parent.mkdir(parents=True, exist_ok=True)
                    (failed / path).write_bytes(value)
                raise HubError(status, f"Injected commit failure ({status})")
            sha = self.hub.commit(self.types, self.repo_id, self.rev, header, ops)
        prefix = "" if self.types == "models" else self.types + "/"
        url = f"{self.hub.endpoint}/{prefix}{self.repo_id}/commit/{sha}"
        self._send(200, {"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None})
