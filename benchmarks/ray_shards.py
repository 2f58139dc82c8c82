"""Shards on a local Ray against one process without Ray: wall time, completeness, peak in-flight, a kill.

Needs the Ray extra (`pip install -e '.[ray]'`). Starts the mock VLM in a separate process (latency
0.2 s ± 0.02 s) and the tests' loopback Hub in this one, makes N records of 64x48 PNGs with one
distinct colour per row (so each answer proves which image it came from), then:

1. `plain`: the CLI, `image-vqa --max-concurrency 32 --push-to-hub bench/plain` (one process, no Ray);
2. `ray`:   the same with `--ray local --shards 4` (pushing to `bench/ray`);
3. `ray4`:  `hf_vqa.run_on_ray` on a local Ray with 4 CPUs (4 shards at once, 8 each), to a folder;
4. `kill`:  `run_on_ray` with 4 shards to `bench/kill`, SIGKILLing the worker of shard 1 mid-run.

Each phase has its own request store, so every phase sends every request. After each one:
`load_dataset` of the result (rows, input order, each answer its own row's image), and the mock's
counters (requests, duplicates, peak in flight).

Run:
    .venv/bin/python benchmarks/ray_shards.py --rows 1000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
TMP = Path(tempfile.mkdtemp(prefix="hf_vqa_ray_bench_"))
from hub_server import HubServer  # noqa: E402  (the tests' loopback Hub)

HUB = HubServer(TMP / "hub").start()
os.environ |= {"HF_ENDPOINT": HUB.endpoint, "HF_TOKEN": "hf_bench_token", "HF_HUB_DISABLE_XET": "1",
               "HF_HOME": str(TMP / "hf_home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
               "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}  # fmt: skip


def colour(i: int) -> tuple[int, int, int]:
    return (i % 256, (i // 256) * 50, 100)


def make_records(n: int) -> str:
    from PIL import Image

    folder = TMP / "input"
    folder.mkdir()
    rows = []
    for i in range(n):
        Image.new("RGB", (64, 48), colour(i)).save(folder / f"{i}.png")
        rows.append(
            {"image": [f"{i}.png"], "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder / "records.jsonl")


def stats(base_url: str, reset: bool = False) -> dict:
    url = base_url.removesuffix("/v1") + ("/_reset" if reset else "/_stats")
    with urllib.request.urlopen(
        urllib.request.Request(url, method="POST" if reset else "GET"), timeout=10
    ) as r:
        return json.loads(r.read() or b"{}")


def check(target: str, n: int) -> dict:
    """Load the result; count rows, rows out of order and answers not from their own row's image."""
    import datasets

    from hf_vqa.mock.answers import parse_tags

    ds = datasets.load_dataset(target, split="train")
    texts = [c[0]["value"] for c in ds["conversation"]]
    out_of_order = sum(t != f"<image>\nRow {i}?" for i, t in enumerate(texts))
    misaligned = sum(not v or parse_tags(v)[0][2] != colour(i) for i, v in enumerate(ds["vqa"]))
    return {
        "rows": len(ds),
        "distinct": len(set(texts)),
        "out_of_order": out_of_order,
        "misaligned": misaligned,
    }


def cli(records: str, base_url: str, phase: str, *extra: str) -> tuple[float, str]:
    cmd = [sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "image-vqa", "--input", records,
           "--output", str(TMP / phase), "--base-url", base_url, "--api-key-env", "", "--max-concurrency", "32",
           "--cache-dir", str(TMP / f"store-{phase}"), "--push-to-hub", f"bench/{phase}", *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=os.environ)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{phase} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


def library(records: str, base_url: str, phase: str, cpus: int, kill: bool) -> tuple[float, object, list]:
    import hf_vqa

    vlm = hf_vqa.VLM(model="mock-vlm", base_url=base_url, api_key_env="", max_concurrency=32,
                     cache_dir=str(TMP / f"store-{phase}"))  # fmt: skip
    where = {"repo_id": f"bench/{phase}"} if kill else {"output": str(TMP / phase)}
    job = hf_vqa.ShardJob("image-vqa", records, vlm, num_shards=4, **where)
    killed: list = []

    def on_progress(states) -> None:
        s = states[1]
        if kill and not killed and s.state == "running" and s.pids and s.done >= 50:
            os.kill(s.pids[-1], signal.SIGKILL)
            killed.append({"shard": 1, "pid": s.pids[-1], "rows_done_at_kill": s.done})

    start = time.perf_counter()
    run = hf_vqa.run_on_ray(
        job, address="local", local_cpus=cpus, on_progress=on_progress, say=lambda t: None
    )
    return time.perf_counter() - start, run, killed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    from hf_vqa.mock.server import start_subprocess

    proc, base_url = start_subprocess(latency=0.2, jitter=0.02)
    try:
        records = make_records(args.rows)
        results = {}
        for phase, extra in (("plain", ()), ("ray", ("--ray", "local", "--shards", "4"))):
            stats(base_url, reset=True)
            seconds, out = cli(records, base_url, phase, *extra)
            s = stats(base_url)
            results[phase] = {"seconds": round(seconds, 2), "last_line": out.strip().splitlines()[-1],
                              "requests": s["requests"], "duplicates": s["duplicates"],
                              "max_in_flight": s["max_in_flight"], **check(f"bench/{phase}", args.rows)}  # fmt: skip
            print(phase, json.dumps(results[phase]), flush=True)
        for phase, cpus, kill in (("ray4", 4, False), ("kill", 2, True)):
            stats(base_url, reset=True)
            seconds, run, killed = library(records, base_url, phase, cpus, kill)
            s = stats(base_url)
            target = f"bench/{phase}" if kill else str(TMP / phase)
            results[phase] = {"seconds": round(seconds, 2), "killed": killed,
                              "attempts": [st.attempts for st in run.shards], "states": [st.state for st in run.shards],
                              "requests": s["requests"], "duplicates": s["duplicates"],
                              "max_in_flight": s["max_in_flight"], **check(target, args.rows)}  # fmt: skip
            print(phase, json.dumps(results[phase]), flush=True)
        out = ROOT / "benchmarks" / "results" / "ray_shards.json"
        out.write_text(json.dumps({"rows": args.rows, "cpus": os.cpu_count(), **results}, indent=2) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        HUB.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
