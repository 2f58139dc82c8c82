"""The API key never leaks: not to stdout/stderr (with every debug log on), not into any output,
cache, request store or dataset card, and not into error messages, even when a server echoes it.

The CLI runs end to end against a mock that REQUIRES the key (so it is really sent), with
``OPENAI_LOG=debug`` and the root logger at DEBUG (openai, httpx2, httpcore2, datasets, filelock...),
with some rows failing (a missing image; a second server with a different key answers 401).
Then every byte the runs left behind is scanned for the key.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from PIL import Image

import hf_vqa
from hf_vqa.images.columns import undecoded

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-hfvqa-SECRET-0123456789abcdef"
NEEDLES = (KEY, "hfvqa-SECRET", "SECRET-0123456789abcdef")
DEBUG_CLI = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG)\n"
    "from hf_vqa.cli.main import main\n"
    "sys.exit(main())\n"
)


def leaks(text: str | bytes) -> list[str]:
    """The needles (the key or a fragment of it) found in `text`."""
    if isinstance(text, bytes):
        return [n for n in NEEDLES if n.encode() in text]
    return [n for n in NEEDLES if n in text]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def scan_file(path: Path) -> list[str]:
    """Key fragments in the raw bytes, and in the decoded values of parquet, Arrow and SQLite files."""
    found = leaks(path.read_bytes())
    decoded = ""
    if path.suffix == ".parquet":
        decoded = "\n".join(_strings(pq.read_table(path).to_pylist()))
    elif path.suffix == ".arrow":
        with pyarrow.memory_map(str(path)) as source:
            decoded = "\n".join(_strings(pyarrow.ipc.open_stream(source).read_all().to_pylist()))
    elif path.name.endswith(".sqlite") or path.suffix in (".db", ".sqlite3"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            decoded = "\n".join(
                "\n".join(_strings(list(row))) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')
            )
        finally:
            conn.close()
    return found + leaks(decoded)


def scan_tree(root: Path) -> dict[str, list[str]]:
    """{file: needles} for every file under `root` that holds the key; also counts what was scanned."""
    hits: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found = scan_file(path)
        if found:
            hits[str(path.relative_to(root))] = found
    return hits


def run_cli(
    tmp_path: Path, *args: Any, debug_root: bool, timeout: float = 240
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OPENAI_API_KEY": KEY,
        "OPENAI_LOG": "debug",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf_datasets"),
        "HF_VQA_CACHE": str(tmp_path / "hf_vqa_default"),
    }
    env.pop("OPENAI_BASE_URL", None)
    head = ["-c", DEBUG_CLI] if debug_root else [str(ROOT / "scripts" / "build_dataset.py")]
    return subprocess.run(
        [sys.executable, *head, "image-vqa", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp_path,
    )  # fmt: skip


def write_inputs(folder: Path, bad: str = "gone.png") -> Path:
    """Three good images and a bad one: `gone.png` is missing, `notes.png` holds text."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.png").write_text("not a picture")
    records = []
    for i, rgb in enumerate([(220, 30, 30), (30, 200, 40), (30, 40, 220)]):
        Image.new("RGB", (40 + i, 30), rgb).save(folder / f"{i}.png")
        records.append(
            {"image": [f"{i}.png"], "conversation": [{"from": "human", "value": "<image>\nWhat?"}]}
        )
    records.append({"image": [bad], "conversation": [{"from": "human", "value": "<image>\nWhat?"}]})
    path = folder / f"records_{Path(bad).stem}.json"
    path.write_text(json.dumps(records))
    return path


@pytest.mark.slow
def test_the_key_leaks_nowhere_in_a_full_cli_run_with_debug_logs(tmp_path, make_mock_vlm):
    good = make_mock_vlm(api_key=KEY)
    wrong = make_mock_vlm(api_key="sk-a-different-key-the-server-expects")
    missing = write_inputs(tmp_path / "in", "gone.png")
    # a corrupt file, not a missing one, for the folder output: see test_bad_inputs for why
    corrupt = write_inputs(tmp_path / "in", "notes.png")
    store = tmp_path / "store"
    common = ["--cache-dir", store, "--max-concurrency", "4", "--max-retries", "1"]

    runs = {
        "json, root DEBUG": run_cli(
            tmp_path, *common, "--input", missing, "--output", tmp_path / "out.json",
            "--base-url", good.base_url, debug_root=True,
        ),
        "folder, OPENAI_LOG=debug": run_cli(
            tmp_path, *common, "--input", corrupt, "--output", tmp_path / "out_dir",
            "--base-url", good.base_url, "--no-cache", debug_root=False,
        ),
        "401s, root DEBUG": run_cli(
            tmp_path, *common, "--input", missing, "--output", tmp_path / "out_401.json",
            "--base-url", wrong.base_url, "--no-cache", debug_root=True,
        ),
    }  # fmt: skip
    for name, res in runs.items():  # a wrong key stops the run: exit 2 with one line
        expected = 2 if name.startswith("401s") else 0
        assert res.returncode == expected, f"{name}: exit {res.returncode}\n{res.stderr[-3000:]}"

    # the key was really used, and the debug logs were really on
    assert good.stats()["unauthorized"] == 0 and good.stats()["ok"] >= 3, good.stats()
    assert wrong.stats()["unauthorized"] == 1, wrong.stats()  # the first request went alone
    root_debug = runs["json, root DEBUG"].stderr
    assert "hf_vqa.engine.client" in root_debug and "-> HTTP 200" in root_debug  # our per-request log
    out = json.loads((tmp_path / "out.json").read_text())
    assert [r["vqa_error"] is None for r in out] == [True, True, True, False]
    assert "gone.png" in out[3]["vqa_error"]
    assert not (tmp_path / "out_401.json").exists()
    assert "error: the endpoint refused the run" in runs["401s, root DEBUG"].stderr
    assert (tmp_path / "out_dir" / "README.md").exists()
    assert list((tmp_path / "out_dir").rglob("*.parquet"))

    # the grep
    logs = {
        f"{name} {stream}": getattr(res, stream)
        for name, res in runs.items()
        for stream in ("stdout", "stderr")
    }
    log_hits = {name: leaks(text) for name, text in logs.items() if leaks(text)}
    file_hits = scan_tree(tmp_path)
    scanned = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    kinds = {
        "parquet": sum(s.endswith(".parquet") for s in scanned),
        "arrow": sum(s.endswith(".arrow") for s in scanned),
        "sqlite": sum(".sqlite" in s for s in scanned),
        "json": sum(s.endswith(".json") for s in scanned),
        "README.md": sum(s.endswith("README.md") for s in scanned),
    }
    log_bytes = sum(len(t) for t in logs.values())
    print(f"\nSECRETS scanned {len(scanned)} files {kinds} and {log_bytes} chars of stdout/stderr")
    print(f"SECRETS found in logs: {log_hits or 'nothing'}; in files: {file_hits or 'nothing'}")
    assert kinds["parquet"] and kinds["arrow"] and kinds["sqlite"], kinds
    assert not log_hits, f"the key is in the logs: {log_hits}"
    assert not file_hits, f"the key is in files: {file_hits}"


# ---------------------------------------------------------------------------------------------
# error messages


class _EchoingServer(ThreadingHTTPServer):
    daemon_threads = True


def _echo_handler() -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Answers 401 and quotes the Authorization header back, like a careless gateway."""

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            auth = self.headers.get("Authorization", "")
            body = json.dumps({"error": {"message": f"Invalid credentials: {auth}", "type": "auth"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def echoing_server() -> Iterator[str]:
    """A base URL whose /chat/completions echoes the caller's Authorization header in a 401 body."""
    httpd = _EchoingServer(("127.0.0.1", 0), _echo_handler())
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _one_row(tmp_path: Path):
    return undecoded(hf_vqa.load_records(write_inputs(tmp_path / "in"), cache_dir=str(tmp_path / "ds")))


def test_wrong_key_errors_do_not_contain_the_key(tmp_path, make_mock_vlm, monkeypatch):
    monkeypatch.setenv("HF_VQA_TEST_KEY", KEY)
    server = make_mock_vlm(api_key="sk-the-right-one")
    vlm = hf_vqa.VLM(
        model="m", base_url=server.base_url, api_key_env="HF_VQA_TEST_KEY", cache_dir=str(tmp_path)
    )
    with pytest.raises(hf_vqa.errors.EndpointError) as stopped:  # a wrong key stops the run
        _one_row(tmp_path).map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm})
    print(f"\nSECRETS wrong key -> {stopped.value}")
    assert "HTTP 401" in str(stopped.value)
    assert (
        not leaks(str(stopped.value))
        and not leaks(repr(stopped.value))
        and not leaks(pickle.dumps(stopped.value))
    )
    # nothing that datasets hashes or pickles into its cache holds the key
    assert not leaks(pickle.dumps(vlm)) and not leaks(repr(vlm)) and not leaks(json.dumps(vlm.to_dict()))


def test_a_server_that_echoes_the_key_does_not_put_it_in_the_data(tmp_path, echoing_server, monkeypatch):
    monkeypatch.setenv("HF_VQA_TEST_KEY", KEY)
    vlm = hf_vqa.VLM(
        model="m", base_url=echoing_server, api_key_env="HF_VQA_TEST_KEY", cache_dir=str(tmp_path)
    )
    with pytest.raises(hf_vqa.errors.EndpointError) as stopped:
        _one_row(tmp_path).map(hf_vqa.prompted_vqa, batched=True, fn_kwargs={"vlm": vlm})
    print(f"\nSECRETS echoing server -> {stopped.value}")
    assert "HTTP 401" in str(stopped.value)
    assert not leaks(str(stopped.value)), f"the server's echo of the key went into the error: {stopped.value}"
    assert not leaks(pickle.dumps(stopped.value))


def test_a_key_passed_as_the_variable_name_is_never_echoed(monkeypatch):
    """`--api-key-env $GROQ_API_KEY` by mistake: keys like gsk_... look like variable names."""
    for pasted in (KEY, "gsk_hfvqaSECRET0123456789abcdef", "hfvqaSECRET0123456789abcdef"):
        monkeypatch.delenv(pasted, raising=False)
        with pytest.raises(hf_vqa.ConfigError) as info:
            hf_vqa.VLM(base_url="http://127.0.0.1:9/v1", api_key_env=pasted).api_key()
        err = info.value
        message = f"{err} {err!r} {err.received!r}"
        print(f"\nSECRETS api_key_env={pasted[:8]}... -> {err}")
        assert pasted not in message, f"the pasted key is echoed: {message}"
        assert pasted.encode() not in pickle.dumps(err)


def test_the_missing_key_error_names_the_variable_not_a_value(monkeypatch):
    monkeypatch.delenv("HF_VQA_UNSET_KEY", raising=False)
    with pytest.raises(hf_vqa.ConfigError, match="HF_VQA_UNSET_KEY is not set"):
        hf_vqa.VLM(base_url="http://127.0.0.1:9/v1", api_key_env="HF_VQA_UNSET_KEY").api_key()
