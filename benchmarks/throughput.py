"""Throughput of the real map path against the loopback mock VLM in a separate process.

Each configuration (concurrency c, rows N) runs in a fresh worker subprocess, so peak RSS does not
mix, with a fresh mock server (``start_subprocess(latency=0.2, jitter=0.02)``), a fresh Arrow cache
and a fresh request store. The worker does what ``pipeline.run_pipeline`` does for generation:
``load_records`` → images as ``Image(decode=False)`` → ``ds.map(prompted_vqa, batched=True,
batch_size=max(64, 8c), features=features_after(...))``. Rows reuse a pool of 64 distinct 640×480
photo-like JPEGs (~100–150 KB), but each row's conversation text is unique, so every row is a real
request (the store never short-circuits).

Reported per configuration: rows/s over the map, its ratio to the ideal c/L (L = 0.2 s), client CPU
per row (map only, and the whole worker process including imports and loading), peak RSS, and the
mock server's CPU per request and utilisation (it runs on the other core).

Run:
    .venv/bin/python benchmarks/throughput.py                  # c = 16 64 256, N = 1000 10000
    .venv/bin/python benchmarks/throughput.py --quick          # smoke run: c = 16, N = 200
    .venv/bin/python benchmarks/throughput.py -c 64 -n 1000 --batch-size 128 --profile /tmp/prof
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

LATENCY, JITTER, POOL = 0.2, 0.02, 64
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


# -- inputs ---------------------------------------------------------------------------------------
def photo_like_jpeg(seed: int, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """A distinct photo-like JPEG per seed: tinted gradients plus noise (~100–150 KB at q90)."""
    from PIL import Image, ImageChops

    w, h = size
    grad = Image.linear_gradient("L").resize((w, h))
    if seed % 2:
        grad = grad.transpose(Image.Transpose.ROTATE_90).resize((w, h))
    noise = Image.effect_noise((w, h), 24 + seed % 7)
    r = grad.point(lambda v, s=seed: (v * (60 + 3 * s)) // 255 + 2 * s % 64)
    r = ImageChops.add(r, noise.point(lambda v: v // 4))
    g = ImageChops.add(noise, Image.new("L", (w, h), (37 * seed) % 128), scale=1.5)
    b = grad.transpose(Image.Transpose.ROTATE_180).point(lambda v, s=seed: (v + 5 * s) % 256)
    buf = io.BytesIO()
    Image.merge("RGB", (r, g, b)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_inputs(work: Path, rows: list[int]) -> dict[str, Any]:
    """Write the image pool and one records file per N; return paths and the expected image tags."""
    from PIL import Image

    from hf_vqa.mock.answers import image_tag

    pool = work / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    tags, sizes = [], []
    for k in range(POOL):
        path = pool / f"{k:02d}.jpg"
        if not path.exists():
            path.write_bytes(photo_like_jpeg(k))
        with Image.open(path) as im:
            tags.append(image_tag(im.convert("RGB")))
        sizes.append(path.stat().st_size)
    records = {}
    for n in rows:
        path = work / f"records_{n}.jsonl"
        if not path.exists():
            with path.open("w") as fh:
                for i in range(n):
                    text = f"<image>\nRow {i}: describe this photo and ask three questions about it."
                    rec = {
                        "image": [f"pool/{i % POOL:02d}.jpg"],
                        "conversation": [{"from": "human", "value": text}],
                    }
                    fh.write(json.dumps(rec) + "\n")
        records[n] = str(path)
    return {"records": records, "tags": tags, "kb": [s / 1024 for s in sizes]}


# -- one configuration, in its own process ----------------------------------------------------------
def _cpu(which: int) -> float:
    ru = resource.getrusage(which)
    return ru.ru_utime + ru.ru_stime


def _gc_timer() -> Any:
    """Start timing the garbage collector (this process); returns a function giving seconds per
    generation so far (a full collection rescans every tracked object, imports included)."""
    import gc

    total, started = [0.0, 0.0, 0.0], [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            total[info["generation"]] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)
    return lambda: [round(t, 3) for t in total]


def _threads_cpu() -> dict[str, float]:
    """CPU seconds per live thread of this process, by Python thread name (Linux /proc)."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = names.get(int(task.name), "other")
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """Load, map, check; return timings (runs in a fresh process, see `run_config`)."""
    cpu_boot = _cpu(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    import datasets

    import hf_vqa
    from hf_vqa.images.columns import undecoded
    from hf_vqa.mock.answers import parse_tags
    from hf_vqa.runner.lookahead import source_for
    from hf_vqa.spec import PIPELINES

    datasets.disable_progress_bars()
    cpu_imports = _cpu(resource.RUSAGE_SELF)
    ds = undecoded(hf_vqa.load_records(cfg["records"], cache_dir=cfg["ds_cache"]))
    c, n, num_proc = cfg["concurrency"], len(ds), cfg["num_proc"] if cfg["num_proc"] > 1 else None
    # c is the total in flight: each of the num_proc worker processes gets c / num_proc
    vlm = hf_vqa.VLM(model="mock-vlm", base_url=cfg["base_url"], api_key_env="", max_concurrency=c // (num_proc or 1),
                     cache_dir=cfg["store"], timeout=60.0)  # fmt: skip
    spec = PIPELINES["image-vqa"]
    kwargs = {  # what pipeline.run_pipeline passes for the generation step
        "vlm": vlm,
        "system_prompt": spec.system_prompt,
        "prompt": spec.prompt,
        "lookahead": source_for(ds, num_proc) if cfg["lookahead"] else None,
    }
    batch_size = cfg["batch_size"] or max(64, 8 * c)
    if cfg["gc_freeze"]:
        import gc

        gc.freeze()  # everything imported or loaded so far: never scanned again
    gc_time = _gc_timer()
    t_load = time.perf_counter()
    cpu_a = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    out = ds.map(
        hf_vqa.prompted_vqa,
        batched=True,
        with_indices=True,
        with_rank=True,
        batch_size=batch_size,
        num_proc=num_proc,
        fn_kwargs=kwargs,
        features=hf_vqa.features_after(ds, hf_vqa.prompted_vqa),
    )
    t_map = time.perf_counter()
    cpu_b = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    threads = _threads_cpu()
    failed, misaligned = 0, 0
    for i, (text, error) in enumerate(zip(out["vqa"], out["vqa_error"])):
        if error is not None or text is None:
            failed += 1
            continue
        w, h, rgb = parse_tags(text)[0]
        ew, eh, ergb = parse_tags(cfg["tags"][i % POOL])[0]
        misaligned += (w, h) != (ew, eh) or any(abs(a - b) > 3 for a, b in zip(rgb, ergb))
    wall = t_map - t_load
    self_ru, child_ru = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    return {
        "concurrency": c,
        "rows": n,
        "batch_size": batch_size,
        "num_proc": cfg["num_proc"],
        "lookahead": bool(kwargs["lookahead"]),
        "hf_vqa": str(Path(hf_vqa.__file__).parent),
        "gc_freeze": cfg["gc_freeze"],
        "gc_seconds": round(sum(gc_time()), 3),
        "gc_seconds_by_generation": gc_time(),
        "map_seconds": round(wall, 3),
        "rows_per_s": round(n / wall, 1),
        "ideal_rows_per_s": round(c / LATENCY, 1),
        "ratio": round(n / wall / (c / LATENCY), 3),
        "cpu_ms_per_row_map": round(1000 * (cpu_b - cpu_a) / n, 3),
        "cpu_ms_per_row_process": round(1000 * cpu_total / n, 3),
        "cpu_seconds_process": round(cpu_total, 2),
        "cpu_seconds_by_thread": {k: round(v, 2) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])},
        "cpu_seconds_boot": round(cpu_boot, 2),
        "cpu_seconds_imports": round(cpu_imports - cpu_boot, 2),
        "load_seconds": round(t_load - t0, 2),
        "peak_rss_mb": round(self_ru.ru_maxrss / 1024, 1),
        "peak_rss_children_mb": round(child_ru.ru_maxrss / 1024, 1),
        "failed": failed,
        "misaligned": misaligned,
    }


# -- orchestration ---------------------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds all processes on this machine have used since boot (/proc/stat, Linux)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_idle(max_wait: float, threshold: float = 0.3, window: float = 2.0) -> float:
    """Wait (at most `max_wait` s) until other processes use < `threshold` cores; the last load seen."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = _machine_busy()
        time.sleep(window)
        load = (_machine_busy() - busy) / window
        if load < threshold or time.monotonic() >= deadline:
            return round(load, 2)


def _server_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_stats", timeout=10) as resp:
        return json.loads(resp.read())


def run_config(
    c: int, n: int, inputs: dict[str, Any], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Fresh mock server + fresh worker process for one (c, N); the merged measurements."""
    from hf_vqa.mock.server import start_subprocess

    tag = f"c{c}_n{n}_b{args.batch_size or 0}_p{args.num_proc}{'_nola' if args.no_lookahead else ''}{'_gcf' if args.gc_freeze else ''}"
    run_dir = work / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    load_before = wait_idle(args.wait_idle) if args.wait_idle else None
    server, base_url = start_subprocess(latency=LATENCY, jitter=JITTER)
    try:
        cfg = {
            "records": inputs["records"][n],
            "tags": inputs["tags"],
            "ds_cache": str(run_dir / "hfds"),
            "store": str(run_dir / "store"),
            "base_url": base_url,
            "concurrency": c,
            "batch_size": args.batch_size,
            "num_proc": args.num_proc,
            "lookahead": not args.no_lookahead,
            "gc_freeze": args.gc_freeze,
            "result": str(run_dir / "result.json"),
        }
        cmd = [sys.executable, __file__, "--worker", json.dumps(cfg)]
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            flame = str(Path(args.profile) / f"{tag}.txt")
            cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate", "250",
                   "--threads", "--subprocesses", *(["--gil"] if args.profile_gil else []),
                   "-o", flame, "--", *cmd]  # fmt: skip
        env = {
            **os.environ,
            "HF_DATASETS_CACHE": str(run_dir / "hfds"),
            "HF_VQA_CACHE": str(run_dir / "store"),
        }
        spy = None
        if args.profile:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw",
                                    "--rate", "250", "--pid", str(server.pid), "-o",
                                    str(Path(args.profile) / f"{tag}_server.txt")], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        server_cpu0, busy0, t0 = _proc_cpu(server.pid), _machine_busy(), time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        wall = time.perf_counter() - t0
        server_cpu, busy = _proc_cpu(server.pid) - server_cpu0, _machine_busy() - busy0
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        stats = _server_stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({tag}):\n{proc.stderr[-3000:]}")
    result = json.loads(Path(cfg["result"]).read_text())
    requests = max(1, stats["requests"])
    result |= {
        "process_wall_seconds": round(wall, 2),
        "server_requests": stats["requests"],
        "server_duplicates": stats["duplicates"],
        "server_max_in_flight": stats["max_in_flight"],
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3),
        "server_cpu_util": round(server_cpu / result["map_seconds"], 2),
        # CPU used by everything else on the machine during the worker's life (other jobs; py-spy)
        "foreign_cpu_util": round(max(0.0, busy - server_cpu - result["cpu_seconds_process"]) / wall, 2),
        "load_before": load_before,
    }
    client_ms, server_ms = result["cpu_ms_per_row_map"], result["server_cpu_ms_per_request"]
    # what CPU alone allows: each side is ~one core (GIL; one event loop), and they share two cores
    ceiling = min(c / LATENCY, 1000 / client_ms, 1000 / server_ms, 2000 / (client_ms + server_ms))
    result["cpu_ceiling_rows_per_s"] = round(ceiling, 1)
    result["ratio_to_ceiling"] = round(result["rows_per_s"] / ceiling, 2)
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


COLUMNS = [
    ("c", "concurrency"),
    ("N", "rows"),
    ("batch", "batch_size"),
    ("rows/s", "rows_per_s"),
    ("ideal", "ideal_rows_per_s"),
    ("ratio", "ratio"),
    ("CPU ceiling", "cpu_ceiling_rows_per_s"),
    ("client CPU ms/row (map)", "cpu_ms_per_row_map"),
    ("client CPU ms/row (process)", "cpu_ms_per_row_process"),
    ("peak RSS MB", "peak_rss_mb"),
    ("server CPU ms/req", "server_cpu_ms_per_request"),
    ("server util", "server_cpu_util"),
    ("other load", "foreign_cpu_util"),
    ("failed", "failed"),
    ("dup", "server_duplicates"),
]


def table(results: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[k]) for _, k in COLUMNS) + " |" for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("-n", "--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch-size", type=int, default=None, help="default: max(64, 8c), as the CLI")
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--no-lookahead", action="store_true", help="submit per batch (no prefetch thread)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                        help="before each configuration, wait up to S s for other processes to go quiet")  # fmt: skip
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() before the map (experiment)")
    parser.add_argument("--quick", action="store_true", help="smoke run: c=16, N=200")
    parser.add_argument("--out", default=str(RESULTS / "throughput.json"))
    parser.add_argument("--workdir", default=None, help="keep inputs here (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep each run's caches")
    parser.add_argument(
        "--profile", default=None, help="py-spy raw stacks per configuration into this folder"
    )
    parser.add_argument("--profile-gil", action="store_true", help="sample only the GIL holder (client)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        cfg = json.loads(args.worker)
        Path(cfg["result"]).write_text(json.dumps(worker(cfg)))
        return 0
    if args.quick:
        args.concurrency, args.rows = [16], [200]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hf_vqa_bench_"))
    inputs = make_inputs(work, args.rows)
    kb = inputs["kb"]
    print(f"{POOL} distinct 640x480 JPEGs, {min(kb):.0f}-{max(kb):.0f} KB; latency {LATENCY}s ±{JITTER}; "
          f"{os.cpu_count()} cores", flush=True)  # fmt: skip
    results = []
    for n in args.rows:
        for c in args.concurrency:
            result = run_config(c, n, inputs, work, args)
            results.append(result)
            print(json.dumps(result), flush=True)
    report = {
        "latency": LATENCY,
        "jitter": JITTER,
        "pool": POOL,
        "image_kb": [round(min(kb)), round(max(kb))],
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "command": " ".join(["benchmarks/throughput.py", *(argv if argv is not None else sys.argv[1:])]),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
