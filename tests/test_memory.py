"""`runner.memory`: the C heap's free pages go back to the OS between a run's phases."""

from __future__ import annotations

import ctypes
import sys

import pytest

from hf_vqa.runner.memory import release_free_memory


def _rss_anon_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))


def _has_malloc_trim() -> bool:
    try:
        ctypes.CDLL(None).malloc_trim  # noqa: B018 (is the symbol there?)
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not (sys.platform.startswith("linux") and _has_malloc_trim()), reason="glibc only")
def test_freed_memory_inside_the_heap_goes_back_to_the_os():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(4000) for _ in range(16_000)]  # ~64 MB of small blocks in the heap
    for block in blocks:
        ctypes.memset(block, 1, 4000)  # touched: resident
    pin = libc.malloc(4000)  # a live block above them: glibc cannot give them back by shrinking the heap
    for block in blocks:
        libc.free(block)
    before = _rss_anon_kb()
    assert release_free_memory() is True
    after = _rss_anon_kb()
    libc.free(pin)
    assert before - after > 32_000, f"RssAnon {before} kB -> {after} kB"


def test_it_never_fails_where_there_is_no_glibc(monkeypatch):
    from hf_vqa.runner import memory

    monkeypatch.setattr(memory, "_glibc", lambda: None)  # musl, macOS, Windows
    assert release_free_memory() is False
