"""The review round trip against a real Label Studio server (slow; skipped when Label Studio is absent).

The server runs on a free loopback port with SQLite in a temporary folder; its user and legacy token are
made by its own `label-studio init`. Annotations are submitted through the same API the editor uses when a
person clicks, on the tasks in a shuffled order, and the import must put each verdict on its own row and pair.

Label Studio pins older openai/numpy/pyarrow than hf_vqa's tests use, so it lives in its own venv:
    python -m venv .venv-labelstudio && .venv-labelstudio/bin/pip install label-studio 'sentry-sdk<3'
(or point $HF_VQA_LABEL_STUDIO at a `label-studio` executable).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_review import make_output

from hf_vqa.publish.read_folder import read_output_folder
from hf_vqa.review.labelstudio import LabelStudio

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "python -m venv .venv-labelstudio && .venv-labelstudio/bin/pip install label-studio 'sentry-sdk<3'"
TOKEN = "hfvqa-test-token-5f2e9c"


def label_studio_executable() -> str | None:
    """`$HF_VQA_LABEL_STUDIO`, else `.venv-labelstudio/bin/label-studio`, else `label-studio` on PATH."""
    for candidate in (
        os.environ.get("HF_VQA_LABEL_STUDIO"),
        ROOT / ".venv-labelstudio" / "bin" / "label-studio",
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return shutil.which("label-studio")


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(
        1500
    ),  # Label Studio's first start migrates its SQLite database (minutes on 2 busy cores)
    pytest.mark.skipif(label_studio_executable() is None, reason=f"needs Label Studio: {INSTALL}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """(url, legacy token) of a fresh Label Studio on loopback, SQLite in a temporary folder."""
    exe, data = label_studio_executable(), tmp_path_factory.mktemp("label_studio")
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    env.pop("LABEL_STUDIO_API_KEY", None)
    common = ["--data-dir", str(data), "--username", "reviewer@example.com", "--password", "review-pass-1"]
    init = subprocess.run([exe, "init", "-q", *common, "--user-token", TOKEN, "--enable-legacy-api-token"],
                          env=env, capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
    port = _free_port()
    log = open(data / "server.log", "wb")  # noqa: SIM115 (closed after the server stops)
    proc = subprocess.Popen([exe, "start", "--data-dir", str(data), "--internal-host", "127.0.0.1", "--port",
                             str(port), "--no-browser"], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (data / "server.log").read_text()[
                -3000:
            ]
            time.sleep(2)
        yield url, TOKEN
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _cli(*args: object, token: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LABEL_STUDIO_API_KEY": token, "HF_DATASETS_CACHE": str(tmp_path / "hfds")}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_dataset.py"), *map(str, args)],
                         capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _click(ls: LabelStudio, task_id: int, verdicts: dict[int, tuple[str, str | None, str | None]]) -> None:
    """Submit one person's annotation the way the editor does: one result per control that was touched."""
    result = []
    for k, (choice, needs, fix) in verdicts.items():
        result.append({"id": f"p{k}", "from_name": f"pair_{k}", "to_name": f"pair_text_{k}", "type": "choices",
                       "origin": "manual", "value": {"choices": [choice]}})  # fmt: skip
        if needs:
            result.append({"id": f"n{k}", "from_name": f"needs_image_{k}", "to_name": f"pair_text_{k}",
                           "type": "choices", "origin": "manual", "value": {"choices": [needs]}})  # fmt: skip
        if fix:
            result.append({"id": f"f{k}", "from_name": f"fix_{k}", "to_name": f"pair_text_{k}", "type": "textarea",
                           "origin": "manual", "value": {"text": [fix]}})  # fmt: skip
    ls.call("POST", f"/api/tasks/{task_id}/annotations/", {"result": result, "lead_time": 4.2})


def test_round_trip_through_a_real_label_studio(label_studio, tmp_path, monkeypatch):
    url, token = label_studio
    out = make_output(tmp_path / "out", rows=8, pairs=3)
    first = _cli("review", "export", "--input", out, "--to", "label-studio", "--url", url, "--project", "round trip",
                 "--sample", "6", "--seed", "1", token=token, tmp_path=tmp_path)  # fmt: skip
    assert "6 row(s) sampled, 6 task(s) made, 0 already there, 6 image(s) sent" in first.stdout
    again = _cli("review", "export", "--input", out, "--to", "label-studio", "--url", url, "--project", "round trip",
                 "--sample", "6", "--seed", "1", token=token, tmp_path=tmp_path)  # fmt: skip
    assert "0 task(s) made, 6 already there" in again.stdout  # a rerun adds no duplicate task

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", token)
    ls = LabelStudio(url)
    project = ls.find_project("round trip")
    tasks = ls.export_tasks(project["id"])
    assert len(tasks) == 6 and len({t["data"]["hf_vqa_id"] for t in tasks}) == 6
    source = read_output_folder(out)
    task = tasks[0]
    with urllib.request.urlopen(urllib.request.Request(url + task["data"]["images"][0],
                                headers={"Authorization": f"Token {token}"}), timeout=30) as reply:  # fmt: skip
        assert (
            reply.read() == source.with_format("arrow")[task["data"]["row"]]["image"][0][0]["bytes"].as_py()
        )

    random.Random(5).shuffle(tasks)  # people work in any order; the import must not care
    expected: dict[tuple[int, int], tuple[bool, str | None]] = {}
    for n, task in enumerate(tasks[:5]):  # the sixth task stays unreviewed
        row = task["data"]["row"]
        verdicts = {k: ("correct", "needs the image", None) for k in range(3)}
        verdicts[n % 3] = ("incorrect", "does not", f"fixed {row}" if n < 2 else None)
        _click(ls, task["id"], verdicts)
        if n == 0:  # a second person disagrees on one pair: 1 vs 1 is a tie
            _click(ls, task["id"], {0: ("correct", None, None)})
        for k, (choice, _, fix) in verdicts.items():
            expected[(row, k)] = (choice == "correct", fix)
    unreviewed = tasks[5]["data"]["row"]

    done = _cli("review", "import", "--input", out, "--from", "label-studio", "--url", url, "--project", "round trip",
                "--output", tmp_path / "reviewed", token=token, tmp_path=tmp_path)  # fmt: skip
    assert "6 annotation(s) on 5 of 6 task(s)" in done.stdout
    human = read_output_folder(tmp_path / "reviewed")["qa_human"]
    assert human[unreviewed] is None
    for (row, k), (correct, fix) in expected.items():
        item = human[row][k]
        if (row, k) == (tasks[0]["data"]["row"], 0):
            assert item["correct"] is None and item["votes"] == {"correct": 1, "incorrect": 1}
            continue
        assert item["correct"] is correct and item["fixed_answer"] == fix and item["annotators"] >= 1

    # a personal access token (JWT) works as well as the legacy token
    pat = ls.call("POST", "/api/token/")["token"]
    approved = _cli("review", "import", "--input", out, "--from", "label-studio", "--url", url, "--project", "round trip",
                    "--output", tmp_path / "approved", "--filter", "human-approved", "--apply-fixes",
                    token=pat, tmp_path=tmp_path)  # fmt: skip
    assert (
        "2 answer(s) replaced" in approved.stdout and "human-approved: 3 pair(s) dropped" in approved.stdout
    )
    kept = read_output_folder(tmp_path / "approved")
    assert len(kept) == 8
    for folder in (out, tmp_path / "reviewed", tmp_path / "approved"):  # the tokens never reach a file
        for path in Path(folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert token.encode() not in data and pat.encode() not in data
    assert "## Human review" in (tmp_path / "approved" / "README.md").read_text()
    assert json.dumps(pat) not in approved.stdout + approved.stderr and token not in done.stdout + done.stderr
