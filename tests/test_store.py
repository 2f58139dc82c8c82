import multiprocessing

from hf_vqa.config import cache_folder
from hf_vqa.engine.store import Store, StoredReply, get_store

R = StoredReply(text="answer", finish_reason="stop", prompt_tokens=10, completion_tokens=2, attempts=1)


def test_put_get_and_persistence(tmp_path):
    s = Store(tmp_path)
    assert s.get("k") is None
    s.put("k", R)
    assert Store(tmp_path).get("k") == R  # a new connection sees it: it is durable
    assert len(s) == 1 and s.size_bytes() > 0


def _writer(path, n):
    s = Store(path)
    for i in range(n):
        s.put(f"{path}-{i}", R)


def test_concurrent_processes_share_one_store(tmp_path):
    procs = [
        multiprocessing.get_context("spawn").Process(target=_writer, args=(str(tmp_path), 50))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(Store(tmp_path)) == 50  # same keys from both: upserts, no corruption


def test_default_location_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_VQA_CACHE", str(tmp_path / "x"))
    assert cache_folder() == tmp_path / "x"
    monkeypatch.delenv("HF_VQA_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert cache_folder() == tmp_path / "hf" / "hf_vqa"
    assert get_store(str(tmp_path)) is get_store(str(tmp_path))
