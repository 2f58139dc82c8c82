"""The engine against servers that control every byte (issue #25 items 1, 2, 5, 6, 7, 11), through the
real CLI: one JSON line per case with exit code, seconds, requests, rows answered, peak RSS, and where
(if anywhere) the key was found.

    python benchmarks/hostile_engine.py [case ...]          # cases: see CASES; all by default
    HF_VQA_CHECKOUT=/path/to/other/checkout python benchmarks/hostile_engine.py   # the same cases, older code

Each case runs `scripts/build_dataset.py` of the checkout (this one, or ``HF_VQA_CHECKOUT``) in a fresh
subprocess against `tests/raw_server.py` on loopback. A case that does not end is killed after
`LIMIT` seconds (exit "killed").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from hostile import KEY, readable, records  # noqa: E402  (benchmarks/hostile.py)
from raw_server import RawServer, chunk, completion, head, http  # noqa: E402  (tests/raw_server.py)

CHECKOUT = Path(os.environ.get("HF_VQA_CHECKOUT") or HERE.parent)
LIMIT = 90.0
OPTIONAL = ("temperature", "top_p", "max_tokens", "reasoning_effort", "response_format", "top_k")
KNOBS = ["--temperature", "0.2", "--top-p", "0.9", "--max-tokens", "50", "--reasoning-effort", "low",
         "--json-mode", "--extra-body", '{"top_k": 20}']  # fmt: skip
DONE = b"data: [DONE]\n\n"
QA = "Q: What is in the picture? A: A square."


def run(folder: Path, *argv: str, command: str = "image-vqa") -> dict:
    env = {**os.environ, "HF_VQA_CACHE": str(folder / "store"), "HF_DATASETS_CACHE": str(folder / "hfds"),
           "HOSTILE_KEY": KEY, "PYTHONPATH": str(CHECKOUT)}  # fmt: skip
    cmd = [sys.executable, str(CHECKOUT / "scripts" / "build_dataset.py"), command, *argv]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=LIMIT)
        code: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        code = "killed"
    peak = _peak_rss_of_children()
    lines = [x for x in err.splitlines() if x.startswith(("error", "warning", "Traceback", "  File"))]
    lines = lines if code != 0 or not out.strip() else out.splitlines()
    said = out + err
    return {"exit": code, "seconds": round(time.monotonic() - start, 1), "peak_rss_mb": peak,
            "line": (lines[-1] if lines else "")[:160], "key_in_console": KEY in said or _escaped(KEY) in said}  # fmt: skip


def _peak_rss_of_children() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024  # the largest child so far


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def generate(folder: Path, url: str, *extra: str, rows: int = 4) -> dict:
    out = folder / "out.jsonl"
    res = run(folder, "--input", str(folder / "records.json"), "--output", str(out), "--base-url", url,
              "--api-key-env", "HOSTILE_KEY", "--model", "m", "--max-concurrency", "4", *extra)  # fmt: skip
    res["rows"], res["answered"] = readable(out)
    if out.exists() and out.read_text().strip():
        first = json.loads(out.read_text().splitlines()[0])
        res["first_error"] = (first.get("vqa_error") or "")[:200]
        res["first_answer"] = (first.get("vqa") or "")[:80]
    return res


def key_files(folder: Path) -> list[str]:
    """Files under `folder` holding the key (raw, JSON-escaped, or in SQLite/parquet values)."""
    found = []
    for p in (p for p in folder.rglob("*") if p.is_file()):
        data = p.read_bytes()
        if KEY.encode() in data or _escaped(KEY).encode() in data:
            found.append(str(p.relative_to(folder)))
    return found


def say(case: str, srv: RawServer | None, **res) -> None:
    print(json.dumps({"case": case, "requests": len(srv.requests) if srv else 0, **res}), flush=True)


def present(req, *, never: bool):
    names = [k for k in (req.json or {}) if k in OPTIONAL]
    if not names and not never:
        yield http(200, completion(QA))
        return
    name = names[0] if names else "temperature"
    body = {"error": {"message": f"Unsupported parameter: '{name}' is not supported with this model.",
                      "param": name}}  # fmt: skip
    yield http(400, json.dumps(body).encode())


def adapt(never: bool):
    def case(folder: Path) -> None:
        records(folder, 6)
        with RawServer(lambda req: present(req, never=never)) as srv:
            say(f"adapt{'_never_satisfied' if never else ''}", srv, **generate(folder, srv.base_url, *KNOBS))

    return case


def echo_key(form: str):
    def handler(req):
        key = req.headers.get("authorization", "").removeprefix("Bearer ")
        if form == "split":
            yield head() + chunk("Q: key? A: " + key[:12]) + chunk(key[12:], "stop") + DONE
        else:
            yield http(200, completion("Q: key? A: " + key).replace(key.encode(), _escaped(key).encode()))

    def case(folder: Path) -> None:
        records(folder, 4)
        with RawServer(handler) as srv:
            res = generate(folder, srv.base_url, "--report")
            say(f"key_{form}", srv, **res, key_in_files=key_files(folder))

    return case


def userinfo(folder: Path) -> None:
    records(folder, 2)
    with RawServer(lambda req: [http(200, completion(QA))]) as srv:
        url = srv.base_url.replace("http://", f"http://user:{KEY}@")
        say("base_url_with_userinfo", srv, **generate(folder, url), key_in_files=key_files(folder))


def bad_extra_body(folder: Path) -> None:
    records(folder, 2)
    with RawServer(lambda req: [http(200, completion(QA))]) as srv:
        res = generate(folder, srv.base_url, "--extra-body", f'{{"api_key": "{KEY}", oops}}')
        say("invalid_extra_body", srv, **res)


def partial(kind: str):
    events = {
        "error_event": chunk("Q: What is")
        + b'event: error\ndata: {"message": "upstream overloaded"}\n\n'
        + DONE,
        "cut": chunk("Q: What is") + chunk(" in the pic"),
        "content_filter": chunk("Q: What is") + chunk(None, "content_filter") + DONE,
        "empty": chunk("") + chunk("", "stop") + DONE,
    }[kind]

    def case(folder: Path) -> None:
        records(folder, 4)
        with RawServer(lambda req: [head() + events]) as srv:
            res = generate(folder, srv.base_url, "--max-retries", "1")
            say(f"partial_{kind}", srv, **res)
        with RawServer(lambda req: [http(200, completion(QA))]) as srv:
            say(
                f"partial_{kind} then --retry-failed", srv, **generate(folder, srv.base_url, "--retry-failed")
            )

    return case


def emoji(*extra: str):
    def case(folder: Path) -> None:
        records(folder, 4)
        events = chunk("Q: Look? A: ") + chunk(raw="\\ud83d") + chunk(raw="\\ude00", finish="stop") + DONE
        with RawServer(lambda req: [head() + events]) as srv:
            say("emoji_split" + "".join(extra), srv, **generate(folder, srv.base_url, *extra))

    return case


def gzip_bomb(folder: Path) -> None:
    from test_hostile_engine import bomb

    body = bomb("gzip")
    records(folder, 2)
    with RawServer(lambda req: [http(200, body, headers={"Content-Encoding": "gzip"})]) as srv:
        say(
            "gzip_bomb_512MB",
            srv,
            **generate(folder, srv.base_url, "--max-retries", "0"),
            gzip_bytes=len(body),
        )


def trickle(folder: Path) -> None:
    def handler(req):
        yield head()
        for byte in chunk(QA, "stop"):
            yield bytes([byte])
            yield 2.0

    records(folder, 1)
    with RawServer(handler) as srv:
        say(
            "trickle_2s_a_byte", srv, **generate(folder, srv.base_url, "--timeout", "3", "--max-retries", "0")
        )


def report_bad_parquet(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"vqa": "x", "vqa_error": None, "vqa_usage": {"prompt_tokens": "n/a", "completion_tokens": "abc"},
             "qas": [{"question": "What year?", "answer": 1937 + i}]} for i in range(3)]  # fmt: skip
    (folder / "out" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "out" / "data" / "train-00000-of-00001.parquet")
    say("report_on_odd_parquet", None, **run(folder, "--output", str(folder / "out"), command="report"))


CASES = {
    "adapt": adapt(never=False),
    "adapt_never": adapt(never=True),
    "key_split": echo_key("split"),
    "key_escaped": echo_key("escaped"),
    "userinfo": userinfo,
    "extra_body": bad_extra_body,
    "partial_error_event": partial("error_event"),
    "partial_cut": partial("cut"),
    "partial_filter": partial("content_filter"),
    "partial_empty": partial("empty"),
    "emoji": emoji(),
    "emoji_no_cache": emoji("--no-cache"),
    "trickle": trickle,
    "report": report_bad_parquet,
    "gzip_bomb": gzip_bomb,  # last: ru_maxrss of children is the largest child so far
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        with tempfile.TemporaryDirectory(prefix=f"hostile-engine-{name}-") as tmp:
            CASES[name](Path(tmp))
