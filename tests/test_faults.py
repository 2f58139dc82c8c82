"""A flaky or dead endpoint never loses a row, never misaligns one and never retries without bound.

- 2,000 rows through the real map function against the loopback mock at a 20% fault mix (429, 500,
  503, dropped connection, malformed JSON, empty content, a reply slower than the timeout).
- 2,000 rows against an endpoint that is down from the start: the circuit breaker fails them fast.

``pytest -s`` prints the numbers: ``FAULTS rows= succeeded= failed= attempts= ... seconds=``.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import datasets
import pytest
from PIL import Image

import hf_vqa
from hf_vqa.mock.server import FAULT_KINDS, parse_tags

ROWS = 2000
MAX_RETRIES = 6


def colour(i: int) -> tuple[int, int, int]:
    """A distinct, compression-robust colour per row index (steps of 16 per channel; 4,096 rows)."""
    return (16 * (i % 16) + 8, 16 * ((i // 16) % 16) + 8, 16 * ((i // 256) % 16) + 8)


def size(i: int) -> tuple[int, int]:
    return 16 + i % 7, 12 + (i // 7) % 5


def write_records(folder: Path, n: int) -> Path:
    """`n` rows, each a tiny PNG whose size and colour identify the row."""
    images = folder / "img"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        Image.new("RGB", size(i), colour(i)).save(images / f"{i}.png")
        records.append(
            {"image": [f"img/{i}.png"], "conversation": [{"from": "human", "value": f"<image>\nRow {i}?"}]}
        )
    path = folder / "records.json"
    path.write_text(json.dumps(records))
    return path


def load(folder: Path, n: int) -> datasets.Dataset:
    return hf_vqa.load_records(write_records(folder, n), cache_dir=str(folder / "ds"))


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_2000_rows_at_a_20_percent_fault_mix_lose_and_misalign_nothing(tmp_path, make_mock_vlm):
    timeout = 0.75
    server = make_mock_vlm(fault_rate=0.2, retry_after=0.05, slow_seconds=3 * timeout, seed=11)
    ds = load(tmp_path, ROWS)
    vlm = hf_vqa.VLM(
        model="mock",
        base_url=server.base_url,
        api_key_env="",
        cache_dir=str(tmp_path / "store"),
        max_concurrency=64,
        timeout=timeout,
        max_retries=MAX_RETRIES,
    )
    start = time.monotonic()
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=200, fn_kwargs={"vlm": vlm})
    seconds = time.monotonic() - start

    assert len(out) == ROWS
    texts, errors, usages = out["vqa"], out["vqa_error"], out["vqa_usage"]
    failed = []
    for i, (text, error) in enumerate(zip(texts, errors)):
        if text is None:
            failed.append(i)
            assert error and "attempt(s)" in error, f"row {i} failed without a reason: {error!r}"
            continue
        assert error is None, f"row {i} has both an answer and an error: {error}"
        tags = parse_tags(text)
        assert tags, f"row {i}: no image tag in {text[:80]!r}"
        w, h, rgb = tags[0]
        assert (w, h) == size(i), f"row {i} got the answer for a {w}x{h} image, not {size(i)}"
        assert all(abs(a - b) <= 3 for a, b in zip(rgb, colour(i))), f"row {i}: rgb{rgb} != {colour(i)}"

    stats = server.stats()
    attempts = sum(u["attempts"] for u in usages)
    faults = {k: stats[k] for k in FAULT_KINDS}
    succeeded = ROWS - len(failed)
    print(
        f"\nFAULTS rows={ROWS} succeeded={succeeded} failed={len(failed)} attempts={attempts} "
        f"server_requests={stats['requests']} faults={faults} duplicates={stats['duplicates']} "
        f"seconds={seconds:.1f}"
    )
    if failed:
        print("FAULTS failed rows:", {i: errors[i] for i in failed[:5]})
    assert sum(faults.values()) > 0.15 * ROWS, f"the faults did not really happen: {faults}"
    assert all(n > 0 for n in faults.values()), f"every fault kind must occur: {faults}"
    assert succeeded >= 0.999 * ROWS, f"only {succeeded}/{ROWS} rows succeeded"
    assert attempts <= ROWS * (MAX_RETRIES + 1)
    assert all(u["attempts"] <= MAX_RETRIES + 1 for u in usages)
    assert stats["requests"] == attempts, "every attempt the rows count is one request the server saw"
    assert stats["unique_ok"] == succeeded  # one good answer per row, no row answered for another
    assert all(not u["cached"] for u in usages)


@pytest.mark.slow
def test_an_endpoint_that_is_down_fails_fast_with_a_clear_error(tmp_path):
    port = closed_port()
    ds = load(tmp_path, ROWS)
    vlm = hf_vqa.VLM(
        model="mock",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key_env="",
        cache_dir=str(tmp_path / "store"),
        max_concurrency=64,
        timeout=5.0,
        max_retries=MAX_RETRIES,
    )
    start = time.monotonic()
    out = ds.map(hf_vqa.prompted_vqa, batched=True, batch_size=200, fn_kwargs={"vlm": vlm})
    seconds = time.monotonic() - start
    errors, usages = out["vqa_error"], out["vqa_usage"]
    attempts = sum(u["attempts"] for u in usages)
    print(
        f"\nDOWN rows={ROWS} failed={sum(e is not None for e in errors)} attempts={attempts} "
        f"seconds={seconds:.1f}\nDOWN example error: {errors[-1]}"
    )
    assert len(out) == ROWS
    assert all(text is None for text in out["vqa"])
    unreachable = [e for e in errors if e and "unreachable" in e and f":{port}" in e]
    assert len(unreachable) == ROWS, f"{ROWS - len(unreachable)} rows lack a clear error, e.g. {errors[0]!r}"
    assert attempts <= 3 * ROWS, f"{attempts} attempts: the breaker should stop retrying a dead endpoint"
    assert seconds < 60, f"{seconds:.0f}s for a dead endpoint: not failing fast"
