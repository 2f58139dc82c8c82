"""The command a user runs, against the floor: `build_dataset.py image-vqa` vs a bare aiohttp client.

Both clients send the same requests (same model, same messages, the same base64 JPEGs, the same
concurrency) to the same near-free server, side by side in the same minute, each in its own process:

- `cli`: ``scripts/build_dataset.py image-vqa --input records.jsonl --output out/ --base-url URL
  --model mock-vlm --max-concurrency c`` run as a subprocess, exactly as a user would (fresh
  request store and datasets cache per run; the output is a folder: parquet + card).
- `bare`: a client written here with aiohttp alone: read the records, read and base64 each row's
  image, `json.dumps` the body (up to c bodies built ahead), POST with c senders, keep each reply's
  text, write a JSONL. No store, no retries, no parsing: the floor.

The server (a separate process, so its CPU is not the client's) reads each request and answers a fixed
Q/A chat completion after `--latency` seconds (the mock's latency, with its decoding, validation and
answers left out: a "no-decode" cheap mode). It stamps the first request and the last reply, so the
busy window is what the server saw.

Columns:
- `wall rows/s`: N / (client process start → exit);
- `busy rows/s`: N / (first request received → last reply sent), as the server saw them;
- `CPU ms/row`: the client process's user+sys CPU, its children included (`os.wait4`), / N;
- `before 1st`: seconds from the client's start to its first request; `after last`: from the last
  reply to the client's exit (the tail: parsing, Arrow map, output writing, the card);
- `peak RSS MB`: the client process tree's peak resident memory (`ru_maxrss`).
- `mean in flight`: the requests the server held on average over the busy window (bare keeps ~61 of
  64: the rest is each request's time in the client, between one reply and the next request's body);
  the JSON also has user/sys CPU, the server's connection count and the requests started per half second.
- `start-up CPU`: a run with N=1 (CPU s for the whole process).

Run:
    .venv/bin/python benchmarks/cli_vs_bare.py                          # c=64,256 × N=3000, 3 repeats
    .venv/bin/python benchmarks/cli_vs_bare.py -c 64 -n 30000 --repeat 1
    .venv/bin/python benchmarks/cli_vs_bare.py --check                  # same requests? (N=8)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
POOL = 64
MODEL = "mock-vlm"
ANSWER = "\n".join(
    f"Q{i}: What does part {i} of the photo show?\nA{i}: A tinted gradient with noise, region {i}."
    for i in (1, 2, 3)
)


# -- the server (its own process) ------------------------------------------------------------------
def serve(latency: float, check: str | None) -> None:
    """HTTP/1.1 keep-alive server: POST .../chat/completions → a fixed reply after `latency` s; GET /_stats."""
    stats = {
        "requests": 0,
        "first": 0.0,
        "last": 0.0,
        "in_flight": 0,
        "max_in_flight": 0,
        "in_flight_s": 0.0,
        "connections": 0,
    }
    seen: list[str] = []
    starts: list[float] = []  # each request's arrival, for the requests started per half second

    def reply(status: int, body: bytes) -> bytes:
        head = (
            f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def completion(n: int) -> bytes:
        return json.dumps({"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0, "model": MODEL,
                           "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                        "message": {"role": "assistant", "content": ANSWER, "refusal": None}}],
                           "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}}).encode()  # fmt: skip

    class Conn(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport, self.buf, self.need, self.head = transport, bytearray(), -1, b""
            stats["connections"] += 1

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                if self.need < 0:
                    end = self.buf.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    self.head = bytes(self.buf[:end]).lower()
                    at = self.head.find(b"content-length:")
                    length = int(self.head[at + 15 :].split(b"\r\n")[0]) if at >= 0 else 0
                    if b"transfer-encoding: chunked" in self.head:
                        raise RuntimeError("chunked request bodies are not supported by this server")
                    self.need, self.start = end + 4 + length, end + 4
                if len(self.buf) < self.need:
                    return
                body = bytes(self.buf[self.start : self.need])
                del self.buf[: self.need]
                self.need = -1
                if self.head.startswith(b"get /_stats"):
                    first = stats["first"]
                    per_half_s = [0] * (int((stats["last"] - first) * 2) + 1 if starts else 0)
                    for t in starts:
                        per_half_s[min(len(per_half_s) - 1, int((t - first) * 2))] += 1
                    self.transport.write(
                        reply(200, json.dumps({**stats, "started_per_half_s": per_half_s}).encode())
                    )
                    continue
                stats["requests"] += 1
                stats["first"] = stats["first"] or time.time()
                starts.append(time.time())
                stats["in_flight"] += 1
                stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                if check:
                    seen.append(
                        hashlib.sha256(json.dumps(json.loads(body), sort_keys=True).encode()).hexdigest()
                    )
                    Path(check).write_text("\n".join(sorted(seen)))
                delay = max(0.0, latency + random.uniform(-0.02, 0.02))
                asyncio.get_running_loop().call_later(delay, self.answer, stats["requests"], time.time())

        def answer(self, n: int, started: float) -> None:
            stats["in_flight"] -= 1
            stats["in_flight_s"] += time.time() - started
            stats["last"] = time.time()
            if not self.transport.is_closing():
                self.transport.write(reply(200, completion(n)))

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", 0, backlog=1024)
        print(f"READY http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def start_server(latency: float, check: str | None = None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, __file__, "--serve", str(latency), *(["--check-file", check] if check else [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()  # type: ignore[union-attr]
    assert line and line[0] == "READY", line
    return proc, line[1]


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_stats", timeout=10) as resp:
        return json.loads(resp.read())


# -- the bare client (its own process) ---------------------------------------------------------------
def bare(records: str, base_url: str, concurrency: int, out: str) -> None:
    """The floor: aiohttp alone, the same requests as the CLI sends for these records."""
    import aiohttp

    folder = Path(records).parent
    rows = [json.loads(line) for line in Path(records).read_text().splitlines() if line.strip()]
    results: list[str | None] = [None] * len(rows)

    def body(row: dict) -> bytes:
        data = base64.b64encode((folder / row["image"][0]).read_bytes()).decode("ascii")
        text = row["conversation"][0]["value"].replace("<image>", "").strip()
        content = [{"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}},
                   {"type": "text", "text": text}]  # fmt: skip
        return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": content}]}).encode()

    async def main() -> None:
        ready: asyncio.Queue = asyncio.Queue(maxsize=concurrency)  # bodies built ahead, at most c
        timeout = aiohttp.ClientTimeout(total=60)
        headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout,
                                         headers=headers) as session:  # fmt: skip

            async def produce() -> None:
                for i, row in enumerate(rows):
                    await ready.put((i, body(row)))
                for _ in range(concurrency):
                    await ready.put(None)

            async def send() -> None:
                while (item := await ready.get()) is not None:
                    i, data = item
                    async with session.post(base_url + "/chat/completions", data=data) as resp:
                        reply = json.loads(await resp.read())
                    results[i] = reply["choices"][0]["message"]["content"]

            await asyncio.gather(produce(), *(send() for _ in range(concurrency)))

    asyncio.run(main())
    with open(out, "w") as fh:
        for i, text in enumerate(results):
            fh.write(json.dumps({"i": i, "text": text}) + "\n")


# -- inputs ----------------------------------------------------------------------------------------------
def make_inputs(work: Path, sizes: list[int]) -> dict[int, str]:
    """64 distinct 640×480 photo-like JPEGs (~120–140 KB) and one records file per N (unique questions)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from throughput import photo_like_jpeg

    (work / "pool").mkdir(parents=True, exist_ok=True)
    for k in range(POOL):
        path = work / "pool" / f"{k:02d}.jpg"
        if not path.exists():
            path.write_bytes(photo_like_jpeg(k))
    out = {}
    for n in sizes:
        path = work / f"records_{n}.jsonl"
        if not path.exists():
            with path.open("w") as fh:
                for i in range(n):
                    text = f"<image>\nRow {i}: describe this photo and ask three questions about it."
                    fh.write(json.dumps({"image": [f"pool/{i % POOL:02d}.jpg"],
                                         "conversation": [{"from": "human", "value": text}]}) + "\n")  # fmt: skip
        out[n] = str(path)
    return out


# -- one measured run ------------------------------------------------------------------------------------
NO_FAST = "-nofast"  # a --cli-root label ending so runs that CLI as installed without the `fast` extra
HIDE_FAST = ("pybase64",)


def _hiding(work: Path, modules: tuple[str, ...]) -> str:
    """A folder whose stand-in modules raise ImportError: put first on PYTHONPATH, the optional ones
    installed in this venv look absent, as after `pip install hf_vqa` without extras."""
    folder = work / "hidden_modules"
    folder.mkdir(exist_ok=True)
    for name in modules:
        (folder / f"{name}.py").write_text(f"raise ImportError('{name} hidden by cli_vs_bare.py')\n")
    return str(folder)


def measure(
    kind: str,
    records: str,
    n: int,
    c: int,
    latency: float,
    work: Path,
    check: str | None = None,
    root: Path = ROOT,
) -> dict:
    """Run one client (`cli` or `bare`) against a fresh server; its timings, CPU and peak RSS.

    `root` is the checkout whose CLI runs (its package first on `PYTHONPATH`: a before/after pair).
    """
    run = Path(tempfile.mkdtemp(prefix=f"{kind}_", dir=work))
    server, base_url = start_server(latency, check)
    try:
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "HF_DATASETS_CACHE": str(run / "hfds"),
               "HF_VQA_CACHE": str(run / "store"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        env.pop("OPENAI_BASE_URL", None)
        if kind.startswith("cli"):
            hidden = (
                [_hiding(work, HIDE_FAST)] if kind.endswith(NO_FAST) else []
            )  # as installed without extras
            env["PYTHONPATH"] = os.pathsep.join(
                [*hidden, str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
            cmd = [sys.executable, str(root / "scripts" / "build_dataset.py"), "image-vqa", "--input", records,
                   "--output", str(run / "out"), "--base-url", base_url, "--model", MODEL,
                   "--max-concurrency", str(c)]  # fmt: skip
        else:
            cmd = [sys.executable, __file__, "--bare", records, base_url, str(c), str(run / "out.jsonl")]
        with open(run / "stdout", "wb") as fo, open(run / "stderr", "wb") as fe:
            t0 = time.time()
            proc = subprocess.Popen(cmd, env=env, cwd=run, stdout=fo, stderr=fe)
            _, status, ru = os.wait4(proc.pid, 0)  # the client's own rusage, its reaped children included
            t1 = time.time()
            proc.returncode = os.waitstatus_to_exitcode(status)
        out, err = (run / "stdout").read_bytes(), (run / "stderr").read_bytes()
        stats = server_stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    code = proc.returncode
    if code != 0:
        raise SystemExit(f"{kind} failed ({code}):\n{out.decode()[-2000:]}\n{err.decode()[-3000:]}")
    cpu = ru.ru_utime + ru.ru_stime
    busy = max(1e-9, stats["last"] - stats["first"])
    result = {
        "kind": kind, "c": c, "n": n, "requests": stats["requests"],
        "wall_s": round(t1 - t0, 3), "wall_rows_s": round(n / (t1 - t0), 1),
        "busy_s": round(busy, 3), "busy_rows_s": round(n / busy, 1) if n > 1 else None,
        "cpu_s": round(cpu, 3), "cpu_ms_row": round(1000 * cpu / n, 3),
        "before_first_s": round(stats["first"] - t0, 3), "after_last_s": round(t1 - stats["last"], 3),
        "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "max_in_flight": stats["max_in_flight"],
        "mean_in_flight": round(stats["in_flight_s"] / busy, 1), "user_s": round(ru.ru_utime, 3),
        "sys_s": round(ru.ru_stime, 3), "started_per_half_s": stats["started_per_half_s"],
        "last_line": out.decode().strip().splitlines()[-1] if out.strip() else "",
    }  # fmt: skip
    shutil.rmtree(run, ignore_errors=True)
    return result


def machine_load(window: float = 1.0) -> float:
    """Cores busy on the whole machine over `window` seconds (/proc/stat)."""

    def busy() -> float:
        v = list(map(int, Path("/proc/stat").read_text().split()[1:9]))
        return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")

    b = busy()
    time.sleep(window)
    return round((busy() - b) / window, 2)


COLUMNS = [("client", "kind"), ("c", "c"), ("N", "n"), ("wall rows/s", "wall_rows_s"),
           ("busy rows/s", "busy_rows_s"), ("CPU ms/row", "cpu_ms_row"), ("CPU s", "cpu_s"),
           ("before 1st s", "before_first_s"), ("after last s", "after_last_s"),
           ("peak RSS MB", "peak_rss_mb"), ("mean in flight", "mean_in_flight"), ("load", "load")]  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(k)) for _, k in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


SUMMARY = [("wall rows/s", "wall_rows_s"), ("busy rows/s", "busy_rows_s"), ("CPU ms/row", "cpu_ms_row"),
           ("CPU s", "cpu_s"), ("before 1st s", "before_first_s"), ("after last s", "after_last_s"),
           ("peak RSS MB", "peak_rss_mb")]  # fmt: skip


def summary(paths: list[str]) -> str:
    """Per (client, c, N): each column as min–max over the repeats, and the ratio to bare's median."""
    import statistics

    groups: dict[tuple, list[dict]] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["results"]:
            groups.setdefault((r["kind"], r["c"], r["n"]), []).append(r)

    def span(rows: list[dict], key: str) -> str:
        values = [r[key] for r in rows if r.get(key) is not None]
        if not values:
            return "–"
        lo, hi = min(values), max(values)
        return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"

    head = ["client", "c", "N", "runs", *[h for h, _ in SUMMARY], "wall ÷ bare", "busy ÷ bare"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (kind, c, n), rows in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0] != "bare")):
        bare = groups.get(("bare", c, n), [])
        ratios = []
        for key in ("wall_rows_s", "busy_rows_s"):
            mine = [r[key] for r in rows if r.get(key)]
            floor = [r[key] for r in bare if r.get(key)]
            ok = mine and floor and kind != "bare"
            ratios.append(f"{statistics.median(mine) / statistics.median(floor):.2f}" if ok else "")
        cells = [kind, str(c), str(n), str(len(rows)), *[span(rows, k) for _, k in SUMMARY], *ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _portable(argv: list[str]) -> list[str]:
    """The command line without this machine's paths (a checkout becomes <checkout>, a folder <dir>)."""
    out = []
    for arg in argv:
        label, eq, path = arg.partition("=")
        if eq and os.sep in path:
            arg = f"{label}=<checkout>"
        elif arg.startswith(os.sep):
            arg = "<dir>"
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("-n", "--rows", type=int, nargs="+", default=[3000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument(
        "--startup", action="store_true", help="also N=1 runs (start-up CPU), once per repeat"
    )
    parser.add_argument("--only", choices=["cli", "bare"], default=None)
    parser.add_argument("--cli-root", nargs="+", default=None, metavar="LABEL=PATH",
                        help="run the CLI of each checkout (e.g. before=/tmp/old after=.), side by side; "
                             f"a label ending in {NO_FAST} runs it without the optional `fast` extra")  # fmt: skip
    parser.add_argument("--check", action="store_true", help="N=8: do both clients send the same requests?")
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--out", default=None, help="JSON results (default: results/cli_vs_bare[_label].json)"
    )
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--summary", nargs="+", metavar="JSON", help="print the table of earlier results")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--check-file", help=argparse.SUPPRESS)
    parser.add_argument("--bare", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.check_file)
        return 0
    if args.summary:
        print(summary(args.summary))
        return 0
    if args.bare:
        records, url, c, out = args.bare
        bare(records, url, int(c), out)
        return 0
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hf_vqa_cli_vs_bare_"))
    sizes = sorted({*args.rows, 1, 8})
    records = make_inputs(work, sizes)
    if args.check:
        seen = {}
        for kind in ("bare", "cli"):
            measure(kind, records[8], 8, 4, 0.0, work, check=str(work / f"seen_{kind}.txt"))  # this checkout
            seen[kind] = (work / f"seen_{kind}.txt").read_text()
        same = seen["bare"] == seen["cli"]
        print(f"same request bodies (parsed JSON, 8 rows): {same}")
        return 0 if same else 1
    roots = dict(r.split("=", 1) for r in args.cli_root) if args.cli_root else {"": str(ROOT)}
    clis = [(f"cli{':' + label if label else ''}", Path(path).resolve()) for label, path in roots.items()]
    kinds = ([("bare", ROOT)] if args.only != "cli" else []) + (clis if args.only != "bare" else [])
    results = []
    for rep in range(args.repeat):
        plan = [(1, 64)] if args.startup else []
        plan += [(n, c) for n in args.rows for c in args.concurrency]
        for n, c in plan:
            for kind, root in kinds:  # side by side: bare then each cli, in the same minute
                load = machine_load()
                result = measure(kind, records[n], n, c, args.latency, work, root=root)
                result |= {"repeat": rep, "load": load}
                results.append(result)
                print(json.dumps(result), flush=True)
    report = {"label": args.label, "latency": args.latency, "cores": os.cpu_count(),
              "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["benchmarks/cli_vs_bare.py", *_portable(argv if argv is not None else sys.argv[1:])]),
              "results": results}  # fmt: skip
    out = Path(args.out or RESULTS / f"cli_vs_bare{'_' + args.label if args.label else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
