"""The endpoint's URL and headers without the SDK (`engine/connection.py`) equal `AsyncOpenAI`'s, and a
run over aiohttp never imports `openai`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import datasets
import pytest
from clitools import SAMPLE, SCRIPT, cli_env, stored_replies

from hf_vqa.engine import connection
from hf_vqa.engine.http_client import httpx_module

BASE_URLS = [
    "http://127.0.0.1:8000/v1",
    "http://127.0.0.1:8000/v1/",
    "http://localhost:11434/v1",
    "https://api.openai.com/v1",
    "https://openrouter.ai/api/v1",
    "https://api.openai.com/v1//",  # kept as given
    "http://h:8080",  # no path
    "http://h",
    "http://[::1]:8000/v1",
    "HTTP://Example.COM:80/v1",  # the rest go through httpx's URL class
    "https://Example.com:443/v1/",
    "http://h/a b/",
    "http://h/ü/v1",
    "http://bücher.de/v1",
    "http://h/%7Ea/v1",
    "http://h/a/../b",
    "http://user:pw@h/v1",
    "http://h/v1#frag",
]
ENVS = [
    {},
    {"OPENAI_ORG_ID": "org-hfvqa"},
    {"OPENAI_ORG_ID": "org-1", "OPENAI_PROJECT_ID": "proj_2"},
    {"OPENAI_PROJECT_ID": ""},  # set but empty: still sent
]
EXTRAS = [
    ({}, {}),
    ({"HTTP-Referer": "https://me.example", "X-Title": "t"}, {"api-version": "2024-10-21"}),
    ({"OpenAI-Organization": "org-from-header", "x-stainless-lang": "py"}, {"model": "m", "a": "b c"}),
]


def _sdk(base: str, key: str, headers: dict, query: dict) -> tuple[str, list]:
    """What transport.py used to read off `AsyncOpenAI` (inside a task, as in the engine's loop)."""
    from urllib.parse import urlencode

    import openai

    async def build() -> tuple[str, list]:
        hx = httpx_module()
        sdk = openai.AsyncOpenAI(api_key=key, base_url=base, timeout=30, max_retries=0,
                                 http_client=hx.AsyncClient(), default_headers=headers or None)  # fmt: skip
        encoded = urlencode(query)
        url = str(sdk.base_url).rstrip("/") + "/chat/completions" + (f"?{encoded}" if encoded else "")
        merged = {**sdk.default_headers, **sdk.auth_headers, "Content-Type": "application/json"}
        return url, [(k, v) for k, v in merged.items() if isinstance(v, str)]

    return asyncio.run(build())


@pytest.mark.parametrize("base", BASE_URLS)
def test_the_url_is_the_sdks(base):
    for _, query in EXTRAS:
        assert connection.chat_url(base, query) == _sdk(base, "k", {}, query)[0]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("extra", range(len(EXTRAS)))
def test_the_headers_are_the_sdks_in_its_order(env, extra, monkeypatch):
    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    headers, query = EXTRAS[extra]
    for key in ("sk-test-0123456789", "EMPTY"):
        want = _sdk("http://127.0.0.1:8000/v1", key, headers, query)[1]

        async def ours(key: str = key) -> list:
            return list(connection.headers_for(key, headers).items())

        assert asyncio.run(ours()) == want  # values and order
    got = connection.headers_for("k", headers, env=env, in_task=False)
    assert got["X-Stainless-Async"] == "async:false" and got["Authorization"] == "Bearer k"


def test_the_version_is_read_without_importing_the_sdk():
    code = ("import sys; from hf_vqa.engine import connection as c; c.headers_for('k', {}); "
            "c.chat_url('http://127.0.0.1:1/v1', {}); print('openai' in sys.modules, c.sdk_version())")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    import openai

    assert out.stdout.split() == ["False", openai.__version__]


THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _run_entry(args: list[str], tmp_path, env: dict) -> dict:
    """Run scripts/build_dataset.py as `__main__` in a fresh interpreter (the thread variables unset
    unless `env` sets them); what it imported and its environment at the end."""
    full = {k: v for k, v in cli_env(tmp_path).items() if k not in THREADS}
    code = f"""
import atexit, json, os, runpy, sys
names = {THREADS!r}
def report():  # at exit: the fast exit (cli.main.exit_now) runs the atexit handlers too
    print(json.dumps({{"openai": "openai" in sys.modules, "env": {{n: os.environ.get(n) for n in names}}}}))
atexit.register(report)
sys.argv = [{str(SCRIPT)!r}, *{args!r}]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=tmp_path,
                         env={**full, **env})  # fmt: skip
    assert res.returncode == 0, res.stderr
    return {**json.loads(res.stdout.splitlines()[-1]), "stdout": res.stdout}


def test_the_command_line_sets_one_blas_thread_unless_the_user_chose(tmp_path):
    res = _run_entry(["--help"], tmp_path, {})
    assert res["env"] == dict.fromkeys(THREADS, "1")
    user = _run_entry(["--help"], tmp_path, {"OMP_NUM_THREADS": "3"})
    assert user["env"]["OMP_NUM_THREADS"] == "3"  # the user's own value stays
    assert user["env"]["OPENBLAS_NUM_THREADS"] == user["env"]["MKL_NUM_THREADS"] == "1"


def test_a_run_over_aiohttp_never_imports_the_sdk(tmp_path, mock_vlm, monkeypatch):
    monkeypatch.delenv("HF_VQA_HTTP", raising=False)
    args = ["image-vqa", "--input", str(SAMPLE), "--output", str(tmp_path / "out"), "--base-url",
            mock_vlm.base_url, "--api-key-env", ""]  # fmt: skip
    res = _run_entry(args, tmp_path, {"HF_VQA_HTTP": "aiohttp"})
    assert mock_vlm.stats()["ok"] >= 1 and res["openai"] is False
    # ended without the interpreter's teardown (cli.main.exit_now): everything printed, the store closed
    assert res["stdout"].splitlines()[-2].startswith("done: rows=6 succeeded=6")
    store = tmp_path / "store"
    assert (store / "replies.sqlite").exists() and not (store / "replies.sqlite-wal").exists()
    assert stored_replies(store) == 6
    assert len(datasets.load_dataset(str(tmp_path / "out"), split="train")) == 6
