"""The image columns of an output batch as Arrow arrays, with as few copies of the bytes as possible.

`read_files` reads a batch's local image files straight into one Arrow buffer (no Python `bytes` per
photo: each batch's ~13 MB of those was freed back to the OS and faulted in again, ~0.1 ms per photo in
the kernel); `to_arrow` builds the list/struct/binary arrays column-wise, one copy per image;
`column_options` says how the parquet writer treats each column (image bytes: no dictionary, no
statistics, and no compression when they are JPEG/PNG/WEBP already).

Example:
    >>> to_arrow([b"ab", None, b"c"], pa.binary()).to_pylist()
    [b'ab', None, b'c']
"""

from __future__ import annotations

import collections
import io
import itertools
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["column_options", "read_files", "to_arrow"]

Bytes = bytes | memoryview | pa.Buffer


def read_files(paths: list[str]) -> dict[str, collections.deque[pa.Buffer]]:
    """Each readable local file of `paths` (in order, repeats read again) as a slice of one buffer.

    A file missing from the answer (unreadable, or its size changed while it was read) is for the
    caller to read the ordinary way, which says what went wrong. Slices taken in order and all kept
    become the binary column without another copy (`to_arrow`)."""
    sizes: list[int | None] = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size)
        except (OSError, ValueError):
            sizes.append(None)
    buffer = pa.allocate_buffer(sum(size for size in sizes if size))
    view, at = memoryview(buffer).cast("B"), 0
    out: dict[str, collections.deque[pa.Buffer]] = collections.defaultdict(collections.deque)
    for path, size in zip(paths, sizes):
        if size and _read_exactly(path, view[at : at + size]):
            out[path].append(buffer.slice(at, size))
            at += size
    return out


def _read_exactly(path: str, into: memoryview) -> bool:
    try:
        with open(path, "rb", buffering=0) as fh:
            got = 0
            while got < len(into):
                n = fh.readinto(into[got:])
                if not n:
                    return False
                got += n
            return not fh.read(1)  # grew since it was stat'ed: read it again the ordinary way
    except (OSError, ValueError):
        return False


def to_arrow(values: list, kind: pa.DataType) -> pa.Array:
    """`values` as an Arrow array of `kind`; image structs (and lists of them) are built column-wise,
    which copies each image's bytes once (`pa.array` on the dicts grows its buffer copy by copy)."""
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        offsets, flat = [0], []
        for row in values:
            flat.extend(row or ())
            offsets.append(len(flat))
        mask = pa.array([row is None for row in values], type=pa.bool_())
        items = to_arrow(flat, kind.value_type)
        return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), items, type=kind, mask=mask)
    if pa.types.is_struct(kind) and all(isinstance(v, dict) or v is None for v in values):
        children = [to_arrow([v.get(f.name) if v else None for v in values], f.type) for f in kind]
        mask = pa.array([v is None for v in values], type=pa.bool_())
        return pa.StructArray.from_arrays(children, fields=list(kind), mask=mask)
    if kind == pa.binary() and all(
        isinstance(v, (bytes, memoryview, pa.Buffer)) or v is None for v in values
    ):
        return _binary_array(values)
    return pa.array(values, type=kind)


def _binary_array(values: list[Bytes | None]) -> pa.Array:
    """A binary array of `values` with one copy of each value into one buffer of the right size.

    `pa.array` grows its data buffer value by value: for 100 photos of ~130 KB that is several
    copies and fresh pages on each batch (~0.2 ms per photo, half of it in the kernel)."""
    sizes = [len(v) if v is not None else 0 for v in values]
    offsets = pa.array(itertools.accumulate(sizes, initial=0), type=pa.int64())
    if offsets[-1].as_py() > 2**31 - 1:  # `binary` has 32-bit offsets: let pyarrow say so
        return pa.array([bytes(v) if v is not None else None for v in values], type=pa.binary())
    data = _adjacent(values)
    if data is None:  # not the slices of one buffer, in order: one copy each
        data = pa.allocate_buffer(offsets[-1].as_py())
        view, at = memoryview(data).cast("B"), 0
        for value, size in zip(values, sizes):
            if size:
                view[at : at + size] = memoryview(value).cast("B")
                at += size
    validity = None
    if any(v is None for v in values):
        validity = pa.array([v is not None for v in values], type=pa.bool_()).buffers()[1]
    offsets32 = offsets.cast(pa.int32()).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), len(values), [validity, offsets32, data])


def _adjacent(values: list) -> pa.Buffer | None:
    """The region of one buffer that the values (`read_files` slices) fill one after another; None
    when they are anything else (bytes, or a gap left by an image that was refused)."""
    present = [v for v in values if v is not None and len(v)]
    if not present or not all(isinstance(v, pa.Buffer) and v.parent is not None for v in present):
        return None
    parent = present[0].parent
    for before, after in itertools.pairwise(present):
        if after.parent.address != parent.address or after.address != before.address + before.size:
            return None
    start, end = present[0].address - parent.address, present[-1].address + present[-1].size - parent.address
    return parent.slice(start, end - start)


def column_options(table: pa.Table, images: list[str]) -> dict:
    """ParquetWriter options: every column dictionary-encoded, compressed and with statistics, but the
    image bytes. Photos hardly ever repeat (hashing each for a dictionary cost ~0.2 ms per photo for a
    file of the same size), min/max of image bytes tell a reader nothing, and JPEG/PNG/WEBP bytes do
    not compress: when the first batch's images are all such files, they are written as they are."""
    if not images:
        return {"use_dictionary": True}
    buf = io.BytesIO()
    pq.write_table(table.schema.empty_table(), buf)
    leaves = pq.ParquetFile(pa.BufferReader(buf.getvalue())).schema
    paths = [leaves.column(i).path for i in range(len(leaves))]
    image_bytes = [p for p in paths if p.split(".")[0] in images and p.endswith(".bytes")]
    others = [p for p in paths if p not in image_bytes]
    options: dict = {"use_dictionary": others, "write_statistics": others}
    if all(_compressed_format(table.column(name)) for name in images):
        options["compression"] = {p: ("none" if p in image_bytes else "snappy") for p in paths}
    return options


def _compressed_format(column: pa.ChunkedArray) -> bool:
    """Whether every image in `column` is JPEG, PNG or WEBP (already-compressed data)."""
    values = column.combine_chunks()
    if pa.types.is_list(values.type):
        values = pc.list_flatten(values)
    for scalar in pc.struct_field(values, "bytes"):
        if not scalar.is_valid:
            continue
        head = scalar.as_buffer()[:12].to_pybytes()
        if not (head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n"
                or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):  # fmt: skip
            return False
    return True
