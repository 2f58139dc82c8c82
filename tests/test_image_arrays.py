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
