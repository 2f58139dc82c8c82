"""Client CPU per request of the engine alone: `client.Engine` + `transport.py`, no datasets, no mock.

A near-free HTTP/1.1 server runs in a subprocess (it reads each request and answers a fixed chat
completion after `--latency` seconds), so what is measured is this process: the engine, its store
and its transport. Requests are 640×480 photo-like JPEGs (as in `throughput.py`), prepared before
the timer starts (`--with-prep` prepares them inside the timed loop instead).

Run:
    .venv/bin/python benchmarks/engine.py                       # c = 64, N = 2000, both transports
    .venv/bin/python benchmarks/engine.py -c 256 -n 4000 --transport aiohttp --with-prep
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_BODY = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Q: What? A: " + "x" * 400}}],
    "usage": {"prompt_tokens": 100, "completion_tokens": 28, "total_tokens": 128}}).encode()  # fmt: skip
_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(_BODY),
    _BODY,
)


def serve(port: int, latency: float) -> None:
    """The near-free server: one asyncio Protocol per connection, Content-Length bodies only."""

    class Conn(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport, self.buf, self.need = transport, bytearray(), -1

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                if self.need < 0:
                    end = self.buf.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    head = bytes(self.buf[:end]).lower()
                    at = head.find(b"content-length:")
                    length = int(head[at + 15 :].split(b"\r\n")[0]) if at >= 0 else 0
                    self.need = end + 4 + length
                if len(self.buf) < self.need:
                    return
                del self.buf[: self.need]
                self.need = -1
                delay = max(0.0, latency + random.uniform(-0.02, 0.02))
                asyncio.get_running_loop().call_later(delay, self.transport.write, _REPLY)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", port)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(c: int, n: int, transport: str, with_prep: bool, latency: float, pool: list[Path]) -> dict:
    """One measurement in this process (call it in a fresh process per transport)."""
    os.environ["HF_VQA_HTTP"] = transport
    from hf_vqa import VLM
    from hf_vqa.engine.client import get_engine
    from hf_vqa.engine.http_client import kind
    from hf_vqa.engine.lifecycle import close_engines
    from hf_vqa.images.prepare import prepare_image
    from hf_vqa.messages import build_request
    from hf_vqa.runner.rows import image_settings

    port = 20000 + os.getpid() % 20000
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(latency)], stdout=subprocess.PIPE
    )
    assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
    vlm = VLM(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key_env="", max_concurrency=c,
              cache_dir=tempfile.mkdtemp(prefix="hf_vqa_engine_"), timeout=60)  # fmt: skip
    engine = get_engine(vlm)

    def make(i: int):
        image = prepare_image(pool[i % len(pool)], image_settings(vlm))
        turn = [{"from": "human", "value": f"<image>\nRow {i}: describe"}]
        return build_request(turn, [image], model="m", params=vlm.generation_params(), endpoint=vlm.base_url)

    ready = None if with_prep else [make(i) for i in range(n)]
    cpu0, t0 = _cpu(), time.perf_counter()
    futures = []
    for i in range(n):
        req = make(i) if ready is None else ready[i]
        futures.append(engine.submit(req.key, req.template, req.payload))
    ok = sum(f.result().error is None for f in futures)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    close_engines()
    server.terminate()
    return {"c": c, "n": n, "transport": kind(), "with_prep": with_prep, "ok": ok,
            "rows_per_s": round(n / wall, 1), "ratio": round(n / wall / (c / latency), 3),
            "cpu_ms_per_request": round(1000 * cpu / n, 3)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("-n", "--rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--transport", choices=["aiohttp", "httpx", "both"], default="both")
    parser.add_argument("--with-prep", action="store_true", help="prepare images inside the timed loop")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), float(args.serve[1]))
        return 0
    pool_dir = Path(tempfile.gettempdir()) / "hf_vqa_bench_pool"
    if args.one:
        pool = sorted(pool_dir.glob("*.jpg"))
        print(json.dumps(run(args.concurrency, args.rows, args.one, args.with_prep, args.latency, pool)))
        return 0
    if not pool_dir.exists():
        from throughput import photo_like_jpeg

        pool_dir.mkdir(parents=True)
        for k in range(64):
            (pool_dir / f"{k:02d}.jpg").write_bytes(photo_like_jpeg(k))
    kinds = ["aiohttp", "httpx"] if args.transport == "both" else [args.transport]
    for _ in range(args.repeat):
        for which in kinds:  # a fresh process each: nothing warm carries over
            cmd = [sys.executable, __file__, "--one", which, "-c", str(args.concurrency), "-n", str(args.rows),
                   "--latency", str(args.latency), *(["--with-prep"] if args.with_prep else [])]  # fmt: skip
            print(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
