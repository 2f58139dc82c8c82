"""image_arrays: a batch's image columns as Arrow arrays, the same values as `pa.array` gives."""

from __future__ import annotations

import pyarrow as pa

from hf_vqa.publish.image_arrays import read_files, to_arrow

IMAGES = pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))


def test_to_arrow_gives_what_pa_array_gives():
    rows = [[{"bytes": b"ab", "path": "a.jpg"}], None, [], [None, {"bytes": None, "path": "b.png"}],
            [{"bytes": memoryview(b"xyz")[1:], "path": None}]]  # fmt: skip
    plain = [[dict(v, bytes=bytes(v["bytes"])) if v and v["bytes"] is not None else v for v in row]
             if row is not None else None for row in rows]  # fmt: skip
    built = to_arrow(rows, IMAGES)
    built.validate(full=True)
    assert built.equals(pa.array(plain, type=IMAGES))
    assert to_arrow([b"a", None, b""], pa.binary()).to_pylist() == [b"a", None, b""]


def test_read_files_reads_each_mention_and_leaves_out_what_it_cannot_read(tmp_path):
    one, two = tmp_path / "1.jpg", tmp_path / "2.jpg"
    one.write_bytes(b"first")
    two.write_bytes(b"second!")
    (tmp_path / "empty.jpg").write_bytes(b"")
    paths = [str(one), str(two), str(one), str(tmp_path / "missing.jpg"), str(tmp_path / "empty.jpg"),
             str(tmp_path)]  # fmt: skip
    files = read_files(paths)
    assert sorted(files) == sorted([str(one), str(two)])  # missing, empty, a folder: read the ordinary way
    assert [bytes(v) for v in files[str(one)]] == [b"first", b"first"] and bytes(
        files[str(two)][0]
    ) == b"second!"


def test_files_read_in_order_become_the_column_without_a_copy(tmp_path):
    paths = []
    for i, text in enumerate([b"one", b"two!", b"three"]):
        (tmp_path / f"{i}.jpg").write_bytes(text)
        paths.append(str(tmp_path / f"{i}.jpg"))
    files = read_files(paths)
    pieces = [files[p].popleft() for p in paths]
    column = to_arrow(pieces, pa.binary())
    assert column.to_pylist() == [b"one", b"two!", b"three"]
    assert column.buffers()[2].address == pieces[0].address  # the read buffer itself
    refused = to_arrow([pieces[0], None, pieces[2]], pa.binary())  # a gap: copied, nothing of it kept
    assert refused.to_pylist() == [b"one", None, b"three"] and refused.buffers()[2].size == 8
