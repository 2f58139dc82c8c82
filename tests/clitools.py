"""Running the real CLI (`scripts/build_dataset.py`) as a subprocess, isolated in a tmp folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_dataset.py"
SAMPLE = ROOT / "examples" / "sample" / "records.json"


def cli_env(tmp_path: Path, extra: dict | None = None) -> dict[str, str]:
    """The test process's environment, with the store and datasets cache in `tmp_path` and no endpoint set."""
    env = {**os.environ, "HF_VQA_CACHE": str(tmp_path / "store"), "HF_DATASETS_CACHE": str(tmp_path / "hfds")}
    env.pop("OPENAI_BASE_URL", None)
    env.update(extra or {})
    return env


def cli_command(*args: object) -> list[str]:
    return [sys.executable, str(SCRIPT), *map(str, args)]


def run_cli(
    *args: object, tmp_path: Path, env: dict | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Run the CLI to completion in `tmp_path`; returns the completed process (text stdout/stderr)."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=cli_env(tmp_path, env),
                          timeout=timeout, cwd=tmp_path)  # fmt: skip


def stored_replies(store: Path) -> int:
    """How many replies the request store in `store` holds, after checking the file's integrity."""
    conn = sqlite3.connect(f"file:{store / 'replies.sqlite'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    finally:
        conn.close()
