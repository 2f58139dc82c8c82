import multiprocessing
import os

from hf_vqa.config import cache_folder
from hf_vqa.engine import store_leases
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


def test_the_first_answer_wins_and_a_conflict_is_logged(tmp_path, capsys):
    s = Store(tmp_path)
    assert s.add("k", R) == "stored"
    other = StoredReply(
        text="another answer", finish_reason="stop", prompt_tokens=1, completion_tokens=1, attempts=1
    )
    assert s.put("k", other) is True  # not a write failure: the answer is simply kept
    assert s.get("k") == R and s.conflicts == 1
    assert "kept the first one" in capsys.readouterr().err
    assert s.add("k", R) == "kept" and s.conflicts == 1


def test_a_reply_that_is_not_an_answer_is_never_stored_and_a_bad_row_is_replaced(tmp_path):
    s = Store(tmp_path)
    empty = StoredReply(text=" ", finish_reason="stop", prompt_tokens=1, completion_tokens=0, attempts=1)
    assert s.put("k", empty) is False and s.get("k") is None
    s._conn().execute("INSERT INTO replies VALUES ('k', '', 'stop', 1, 1, 1, 0)")  # written by something else
    assert s.get("k") is None and s.bad == 1  # absent: asked again
    assert s.add("k", R) == "stored" and s.get("k") == R


def test_a_key_claimed_by_a_live_process_is_not_claimed_by_another(tmp_path):
    a = Store(tmp_path)
    conn = a._conn()
    other = store_leases.Owner(a.owner.host, os.getppid(), "other")  # a live process, not this one
    assert a.claim("k", ttl=60) is True
    assert store_leases.claim(conn, "k", other, ttl=60) is False
    a.release("k")
    assert store_leases.claim(conn, "k", other, ttl=60) is True
    assert a.claim("k", ttl=60) is False  # held by the other, live, process
    dead = store_leases.Owner(a.owner.host, 2**22 + 12345, "dead")  # no such process
    assert store_leases.claim(conn, "j", dead, ttl=60) is True
    assert a.claim("j", ttl=60) is True  # its owner is gone: taken over at once
    lapsed = store_leases.Owner("another-host", 1, "lapsed")
    assert store_leases.claim(conn, "i", lapsed, ttl=-1) is True
    assert a.claim("i", ttl=60) is True  # its time is up


def test_add_many_stores_every_reply_in_one_commit(tmp_path):
    s = Store(tmp_path)
    statements = []
    s._conn().set_trace_callback(statements.append)
    thought = StoredReply("a2", "stop", 1, 1, 1, reasoning="because")
    assert s.add_many([("k1", R), ("k2", thought), ("k3", R)]) == ["stored"] * 3
    fresh = Store(tmp_path)  # another connection: every reply is committed
    assert [fresh.get(k) for k in ("k1", "k2", "k3")] == [R, thought, R]
    assert sum(st.strip().upper() == "COMMIT" for st in statements) == 1, statements


def test_get_many_reads_many_keys_in_one_select_and_skips_what_is_not_an_answer(tmp_path, capsys):
    s = Store(tmp_path)
    thought = StoredReply("a2", "stop", 1, 1, 1, reasoning="because")
    keys = [f"k{i}" for i in range(1203)]  # more than one SELECT's worth of parameters
    assert s.add_many([(k, thought if k == "k8" else R) for k in keys[::2]]) == ["stored"] * 602
    s._conn().execute("INSERT INTO replies VALUES ('bad', '', 'stop', 1, 1, 1, 0)")  # not an answer
    statements = []
    s._conn().set_trace_callback(statements.append)
    found = s.get_many([*keys, "bad", "k0"])
    assert set(found) == set(keys[::2]) and found["k8"] == thought and found["k0"] == R
    assert sum(st.lstrip().upper().startswith("SELECT") for st in statements) == 3, statements
    assert s.bad == 1 and "not an answer" in capsys.readouterr().err
    assert s.get_many([]) == {} and s.get("k1") is None and s.get("k2") == R


def test_claim_many_takes_each_claim_as_claim_does_in_one_commit(tmp_path):
    a = Store(tmp_path)
    conn = a._conn()
    other = store_leases.Owner(a.owner.host, os.getppid(), "other")  # a live process, not this one
    assert store_leases.claim(conn, "held", other, ttl=60) is True
    dead = store_leases.Owner(a.owner.host, 2**22 + 12345, "dead")
    assert store_leases.claim(conn, "orphan", dead, ttl=60) is True
    statements = []
    conn.set_trace_callback(statements.append)
    assert a.claim_many(["new", "held", "orphan", "new"], ttl=60) == [True, False, True, True]
    assert sum(st.strip().upper() == "COMMIT" for st in statements) == 1, statements
    assert store_leases.claim(conn, "new", other, ttl=60) is False  # it is this process's now
    a.release("held")  # not ours: nothing happens
    assert a.claim("held", ttl=60) is False
