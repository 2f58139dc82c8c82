"""The review round trip on a real Label Studio, timed: export a sample, people's clicks (through the API the
editor uses), import back three ways; then a screenshot of a task page in headless Chromium.

Needs a running Label Studio (see docs/review.md) and its token in $LABEL_STUDIO_API_KEY; the output
folder is any context-vqa or image-vqa run (e.g. 200 rows made with --mock).

    python benchmarks/review_roundtrip.py --input out/ --url http://127.0.0.1:8080 --project demo \
        --sample 50 --incorrect 10 --fixed 3 --email me@example.com --password ... \
        --screenshot benchmarks/results/label_studio_task.png

Prints the CLI lines and the counts as JSON (timings on a shared 2-core machine are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.cookiejar
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_vqa.publish.read_folder import read_output_folder  # noqa: E402
from hf_vqa.review.labelstudio import LabelStudio  # noqa: E402


def cli(*args: object) -> tuple[str, float]:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_dataset.py"), *map(str, args)],
                         capture_output=True, text=True, timeout=1200)  # fmt: skip
    if run.returncode:
        raise SystemExit(run.stdout + run.stderr)
    return run.stdout.strip().splitlines()[-1], round(time.perf_counter() - started, 2)


def annotate(ls: LabelStudio, project_id: int, incorrect: int, fixed: int, seed: int) -> dict:
    """Every pair of every task gets a verdict: `incorrect` of them incorrect, `fixed` of those corrected."""
    rng = random.Random(seed)
    tasks = ls.export_tasks(project_id)
    pairs = [(t["id"], k) for t in tasks for k in range(len(t["data"]["pairs"]))]
    wrong = set(rng.sample(pairs, incorrect))
    fixes = set(rng.sample(sorted(wrong), fixed))
    for task in tasks:
        result = []
        for k, pair in enumerate(task["data"]["pairs"]):
            bad = (task["id"], k) in wrong
            result.append({"from_name": f"pair_{k}", "to_name": f"pair_text_{k}", "type": "choices",
                           "origin": "manual", "value": {"choices": ["incorrect" if bad else "correct"]}})  # fmt: skip
            result.append({"from_name": f"needs_image_{k}", "to_name": f"pair_text_{k}", "type": "choices",
                           "origin": "manual", "value": {"choices": ["needs the image" if k == 0 else "does not"]}})  # fmt: skip
            if (task["id"], k) in fixes:
                result.append({"from_name": f"fix_{k}", "to_name": f"pair_text_{k}", "type": "textarea",
                               "origin": "manual", "value": {"text": [pair["answer"] + " (corrected)"]}})  # fmt: skip
        ls.call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result, "lead_time": 12.0})
    return {"tasks": len(tasks), "pairs": len(pairs), "incorrect": len(wrong), "fixed": len(fixes),
            "shown_task": min(fixes)[0] if fixes else tasks[0]["id"]}  # fmt: skip


def session_cookies(url: str, email: str, password: str) -> list[dict]:
    """Log in through Label Studio's own form; the session cookies a browser would hold."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), urllib.request.ProxyHandler({})
    )
    opener.open(url + "/user/login/", timeout=60).read()
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"email": email, "password": password, "csrfmiddlewaretoken": csrf}
    ).encode()
    request = urllib.request.Request(
        url + "/user/login/", data=form, headers={"Referer": url + "/user/login/"}
    )
    opener.open(request, timeout=60).read()
    host = urllib.parse.urlsplit(url).hostname
    return [{"name": c.name, "value": c.value, "domain": host, "path": "/"} for c in jar]


async def screenshot(page_url: str, cookies: list[dict], path: Path, wait: float) -> None:
    """Open `page_url` in headless Chromium with `cookies` set (DevTools protocol) and save a PNG."""
    import aiohttp

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    profile = tempfile.mkdtemp(prefix="chromium-")
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=9333",
                             "--window-size=1400,2600", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            for _ in range(60):
                try:
                    async with http.get("http://127.0.0.1:9333/json") as r:
                        pages = [p for p in await r.json() if p.get("type") == "page"]
                    if pages:
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
                n = 0

                async def send(method: str, **params) -> dict:
                    nonlocal n
                    n += 1
                    await ws.send_json({"id": n, "method": method, "params": params})
                    while True:
                        msg = await ws.receive_json()
                        if msg.get("id") == n:
                            return msg.get("result", {})

                await send("Network.enable")
                for cookie in cookies:
                    await send("Network.setCookie", **cookie)
                await send("Page.navigate", url=page_url)
                await asyncio.sleep(wait)
                shot = await send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(shot["data"]))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def counts(folder: Path) -> dict:
    ds = read_output_folder(folder)
    qas_key = "context_vqa" if "context_vqa" in ds.column_names else "qas"
    pairs = sum(len((v["qas"] if qas_key == "context_vqa" else v) or []) for v in ds[qas_key] if v)
    human = [h for row in ds["qa_human"] for h in row or []]
    out = {"rows": len(ds), "pairs": pairs, "rows_reviewed": sum(r is not None for r in ds["qa_human"]),
           "pairs_reviewed": sum(h is not None for h in human),
           "correct": sum(bool(h and h["correct"] is True) for h in human),
           "incorrect": sum(bool(h and h["correct"] is False) for h in human),
           "with_fixed_answer": sum(bool(h and h["fixed_answer"]) for h in human)}  # fmt: skip
    if "qa_human_fixes" in ds.column_names:
        out["answers_replaced"] = sum(len(f or []) for f in ds["qa_human_fixes"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--project", default="hf_vqa review demo")
    p.add_argument("--sample", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--incorrect", type=int, default=10)
    p.add_argument("--fixed", type=int, default=3)
    p.add_argument("--work", default=None, help="where the imported outputs go (default: a temporary folder)")
    p.add_argument("--email")
    p.add_argument("--password-env", default="LABEL_STUDIO_PASSWORD", help="the login password's variable")
    p.add_argument("--screenshot", type=Path)
    p.add_argument("--wait", type=float, default=20.0, help="seconds the page gets to render")
    args = p.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="review-"))
    lines, times = {}, {}
    lines["export"], times["export_s"] = cli("review", "export", "--input", args.input, "--to", "label-studio", "--url",
                                             args.url, "--project", args.project, "--sample", args.sample, "--seed", args.seed)  # fmt: skip
    lines["export_again"], times["export_again_s"] = cli("review", "export", "--input", args.input, "--to", "label-studio",
                                                         "--url", args.url, "--project", args.project, "--sample",
                                                         args.sample, "--seed", args.seed)  # fmt: skip
    ls = LabelStudio(args.url)
    project = ls.find_project(args.project)
    clicks = annotate(ls, project["id"], args.incorrect, args.fixed, args.seed)
    base = [
        "review",
        "import",
        "--input",
        args.input,
        "--from",
        "label-studio",
        "--url",
        args.url,
        "--project",
        args.project,
    ]
    results = {}
    for name, extra in (
        ("reviewed", []),
        ("approved", ["--filter", "human-approved"]),
        ("fixed", ["--apply-fixes"]),
    ):
        lines[f"import_{name}"], times[f"import_{name}_s"] = cli(*base, "--output", work / name, *extra)
        results[name] = counts(work / name)
    lines = {k: v.replace(str(work), "WORK") for k, v in lines.items()}  # no machine paths in results
    print(json.dumps({"lines": lines, "seconds": times, "annotations": clicks, "counts": results}, indent=2))
    if args.screenshot:
        cookies = session_cookies(args.url, args.email, os.environ[args.password_env])
        page = f"{args.url}/projects/{project['id']}/data?task={clicks['shown_task']}"
        asyncio.run(screenshot(page, cookies, args.screenshot, args.wait))
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
