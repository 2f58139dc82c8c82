"""A hostile world, measured through the real CLI: one line per case with requests sent, seconds, peak
RSS, rows readable, exit code and the last line the user sees.

    python benchmarks/hostile.py [case ...]      # cases: see CASES; all by default

Each case runs `scripts/build_dataset.py image-vqa` in a fresh subprocess against the loopback mock
VLM with one hostile reply kind (`hf_vqa.mock.hostile`), or with a damaged store, a full disk (a 3 MB
tmpfs; needs root, else that case is skipped), a lone surrogate in a prompt, two runs at once on one
output, or two runs at once on different outputs sharing one request store (``shared_store``).
Peak RSS is the CLI process's own `ru_maxrss` (from `wait4`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hf_vqa.mock.server import MockVLM

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_dataset.py"
KEY = "sk-hostile-test-0123456789abcdef"


def records(folder: Path, n: int, prompt: str = "Row {i}?") -> Path:
    from PIL import Image

    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        Image.new("RGB", (16 + i % 7, 12 + i % 5), (8 * (i % 32), 40, 90)).save(folder / "img" / f"{i}.png")
        rows.append({"image": [f"img/{i}.png"],
                     "conversation": [{"from": "human", "value": "<image>\n" + prompt.format(i=i)}]})  # fmt: skip
    path = folder / "records.json"
    path.write_text(json.dumps(rows))
    return path


def cli(folder: Path, url: str, output: Path, *extra: str, wait: bool = True):
    env = {**os.environ, "HF_VQA_CACHE": str(folder / "store"), "HF_DATASETS_CACHE": str(folder / "hfds"),
           "HOSTILE_KEY": KEY}  # fmt: skip
    argv = [sys.executable, str(SCRIPT), "image-vqa", "--input", str(folder / "records.json"), "--output",
            str(output), "--base-url", url, "--api-key-env", "HOSTILE_KEY", "--model", "m", *extra]  # fmt: skip
    proc = subprocess.Popen(
        argv, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return finish(proc) if wait else proc


def finish(proc: subprocess.Popen) -> dict:
    start = time.monotonic()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read(), proc.stderr.read()
    lines = [
        x for x in (err + out).splitlines() if x.strip() and not x.startswith(("Map", "Generating", "Saving"))
    ]
    shown = [
        x for x in err.splitlines() if x.startswith(("error", "warning", "Traceback", "datasets."))
    ] or lines
    return {"exit": proc.returncode, "seconds": round(seconds, 1), "peak_rss_mb": usage.ru_maxrss // 1024,
            "line": shown[-1][:200] if shown else ""}  # fmt: skip


def readable(output: Path) -> tuple[int, int]:
    """(rows readable, rows with an answer) in a .jsonl or folder output."""
    try:
        if output.suffix == ".jsonl":
            rows = [json.loads(x) for x in output.read_text().splitlines()]
        else:
            import pyarrow.parquet as pq

            rows = [r for p in sorted((output / "data").glob("*.parquet"))
                    for r in pq.read_table(p, columns=["vqa"]).to_pylist()]  # fmt: skip
    except (OSError, ValueError):
        return 0, 0
    return len(rows), sum(r.get("vqa") is not None for r in rows)


def report(case: str, server: MockVLM | None, res: dict, output: Path, **more) -> None:
    rows, answered = readable(output)
    sent = server.stats()["requests"] if server else 0
    print(
        json.dumps({"case": case, "requests": sent, **res, "rows": rows, "answered": answered, **more}),
        flush=True,
    )


def hostile(kind: str, n: int, *extra: str):
    def run(folder: Path) -> None:
        records(folder, n)
        with MockVLM(faults={kind: 1.0}) as server:
            out = folder / "out.jsonl"
            res = cli(folder, server.base_url, out, *extra)
            more = {}
            if kind == "echo_key":
                more["key_found_in"] = [str(p.relative_to(folder)) for p in folder.rglob("*")
                                        if p.is_file() and KEY.encode() in p.read_bytes()]  # fmt: skip
            if out.exists() and kind in ("refusal", "content_filter", "sse", "not_utf8", "no_choices"):
                more["error"] = (json.loads(out.read_text().splitlines()[0]).get("vqa_error") or "")[:160]
            if kind == "huge":
                more["disk_mb"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) >> 20
            report(kind, server, res, out, **more)

    return run


def damaged_store(folder: Path) -> None:
    records(folder, 200)
    with MockVLM() as server:
        out = folder / "out.jsonl"
        cli(folder, server.base_url, out)
        db = folder / "store" / "replies.sqlite"
        sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
        for p in folder.glob("store/replies.sqlite-*"):
            p.unlink()
        data = db.read_bytes()
        db.write_bytes(data[: len(data) * 4 // 5])  # truncated: the last fifth is lost
        shutil.rmtree(folder / "hfds")
        out.unlink()
        server.reset()
        report("damaged_store (truncated, rerun)", server, cli(folder, server.base_url, out), out)
        server.reset()
        db.write_bytes(b"garbage" * 1000)  # overwritten
        for p in folder.glob("store/replies.sqlite-*"):
            p.unlink()
        shutil.rmtree(folder / "hfds")
        out.unlink(missing_ok=True)
        report("damaged_store (overwritten, rerun)", server, cli(folder, server.base_url, out), out)


def surrogate(folder: Path) -> None:
    records(folder, 20)
    path = folder / "records.json"
    path.write_text(path.read_text().replace("Row 7?", "Row 7 \\ud83d?"))
    with MockVLM() as server:
        out = folder / "out.jsonl"
        report("lone_surrogate", server, cli(folder, server.base_url, out), out)


def two_runs(folder: Path) -> None:
    records(folder, 200)
    with MockVLM(latency=0.05) as server:
        out = folder / "out.jsonl"
        procs = [cli(folder, server.base_url, out, "--max-concurrency", "4", wait=False) for _ in range(2)]
        results = [finish(p) for p in procs]
        report("two_runs_at_once", server, results[0], out, second=results[1])


def shared_store(folder: Path) -> None:
    """Two runs at once writing different outputs through one request store (120 rows each)."""
    records(folder, 120)
    with MockVLM(latency=0.2) as server:
        procs = [cli(folder, server.base_url, folder / f"out{i}.jsonl", "--max-concurrency", "8", wait=False)
                 for i in range(2)]  # fmt: skip
        results = [finish(p) for p in procs]
        report("shared_store_two_outputs", server, results[0], folder / "out0.jsonl", second=results[1])


@contextlib.contextmanager
def tmpfs(folder: Path, size: str, case: str) -> Iterator[Path | None]:
    """A small tmpfs at `folder/small` (None, with a 'skipped' line, where it cannot be mounted)."""
    mount = folder / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)]).returncode:
        print(json.dumps({"case": case, "skipped": "cannot mount a tmpfs (needs root)"}))
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)])


def disk_full(folder: Path) -> None:
    with tmpfs(folder, "3m", "disk_full") as mount:
        if mount is None:
            return
        records(folder, 40)
        with MockVLM() as server:
            out = mount / "out"
            first = cli(folder, server.base_url, out)
            report("disk_full (first run fits)", server, first, out)
            free = shutil.disk_usage(mount).free
            with open(mount / "filler", "wb") as f:  # leave less room than one more copy of the output
                f.write(b"\0" * max(0, free - 4096))
            server.reset()
            records(folder, 120)  # the rerun's output is bigger than the old one plus the free space
            res = cli(folder, server.base_url, out, "--force", "--temperature", "0.5")
            report("disk_full (rerun, disk full)", server, res, out,
                    tmp_left=[p.name for p in mount.rglob("*") if "tmp" in p.name or "staging" in p.name])  # fmt: skip


def store_full(folder: Path) -> None:
    with tmpfs(folder, "200k", "store_full") as mount:
        if mount is None:
            return
        records(folder, 200)
        with MockVLM() as server:
            out = folder / "out.jsonl"
            res = cli(folder, server.base_url, out, "--cache-dir", str(mount))
            report("store_disk_full", server, res, out)


CASES = {
    "trickle": hostile("trickle", 2, "--timeout", "5", "--max-retries", "0"),
    "refusal": hostile("refusal", 20),
    "content_filter": hostile("content_filter", 20),
    "no_choices": hostile("no_choices", 20),
    "sse": hostile("sse", 20),
    "not_utf8": hostile("not_utf8", 20),
    "odd_usage": hostile("odd_usage", 20),
    "echo_key": hostile("echo_key", 5),
    "disk_full": disk_full,
    "store_full": store_full,
    "damaged_store": damaged_store,
    "surrogate": surrogate,
    "two_runs": two_runs,
    "shared_store": shared_store,
    "huge": hostile("huge", 10),  # last: the in-process mock's 20 MB replies grow this process, and a
}  # forked child's ru_maxrss starts from its parent's

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        with tempfile.TemporaryDirectory(prefix=f"hostile-{name}-") as tmp:
            CASES[name](Path(tmp))
