"""Reading reply rows straight from the pages of a damaged SQLite store file (and its WAL).

SQLite cannot read a table whose b-tree is broken (a truncated file loses the interior pages that
point to the early rows, because pages added later sit at the end). The rows themselves still sit
in the table's leaf pages: this walks every page of the file and every frame of the WAL, decodes
each table-leaf cell (following overflow pages that still exist) and yields the records that have
the reply table's shape. Used by `store_repair.repair`; format: https://sqlite.org/fileformat.html.

Example:
    >>> list(rows(b""))
    []
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["WIDTH", "rows"]

WIDTH = 7  # key, text, finish_reason, prompt_tokens, completion_tokens, attempts, created
LEAF_TABLE = 0x0D


def rows(data: bytes, wal: bytes = b"") -> Iterator[tuple]:
    """Every readable 7-column reply record in the file bytes `data` (and the WAL bytes `wal`)."""
    size, reserved = _geometry(data)
    pages = {n + 1: data[n * size : (n + 1) * size] for n in range(len(data) // size)}
    if len(data) % size and len(data) > size:  # a cut last page: its first part may still hold cells
        pages[len(data) // size + 1] = data[(len(data) // size) * size :]
    if len(wal) > 32 + 24:
        wal_size = struct.unpack(">I", wal[8:12])[0] or size
        for offset in range(32, len(wal) - 24 - wal_size + 1, 24 + wal_size):
            number = struct.unpack(">I", wal[offset : offset + 4])[0]
            if wal_size == size and number:
                pages[number] = wal[offset + 24 : offset + 24 + size]  # later frames are newer
    usable = size - reserved
    for number, page in pages.items():
        for record in _leaf_records(page, 100 if number == 1 else 0, usable, pages):
            if _looks_like_a_reply(record):
                yield record


def _geometry(data: bytes) -> tuple[int, int]:
    if len(data) >= 100 and data[:16] == b"SQLite format 3\0":
        size = struct.unpack(">H", data[16:18])[0]
        size = 65536 if size == 1 else size
        if size >= 512 and size & (size - 1) == 0:
            return size, data[20]
    return 4096, 0  # the default: a file written over still has its pages where they were


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for k in range(9):
        byte = buf[i + k]
        if k == 8:
            return (value << 8) | byte, i + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + k + 1
    raise IndexError


def _leaf_records(page: bytes, start: int, usable: int, pages: dict[int, bytes]) -> Iterator[tuple]:
    if len(page) < start + 8 or page[start] != LEAF_TABLE:
        return
    cells = struct.unpack(">H", page[start + 3 : start + 5])[0]
    for c in range(cells):
        try:
            pointer = struct.unpack(">H", page[start + 8 + 2 * c : start + 10 + 2 * c])[0]
            length, i = _varint(page, pointer)
            _rowid, i = _varint(page, i)
            payload = _payload(page, i, length, usable, pages)
            if payload is not None:
                yield _record(payload)
        except (IndexError, ValueError, struct.error, UnicodeDecodeError):
            continue  # a damaged cell: skip it


def _payload(page: bytes, i: int, length: int, usable: int, pages: dict[int, bytes]) -> bytes | None:
    most = usable - 35
    if length <= most:
        return page[i : i + length] if i + length <= len(page) else None
    least = (usable - 12) * 32 // 255 - 23
    local = least + (length - least) % (usable - 4)
    local = local if local <= most else least
    out, nxt = bytearray(page[i : i + local]), struct.unpack(">I", page[i + local : i + local + 4])[0]
    for _ in range(length // max(1, usable - 4) + 2):  # bounded: a loop in the chain ends here
        if len(out) >= length or nxt not in pages:
            break
        overflow = pages[nxt]
        nxt = struct.unpack(">I", overflow[:4])[0]
        out += overflow[4:usable]
    return bytes(out[:length]) if len(out) >= length else None


def _record(payload: bytes) -> tuple:
    header, i = _varint(payload, 0)
    types = []
    while i < header:
        serial, i = _varint(payload, i)
        types.append(serial)
    values, j = [], header
    for serial in types:
        if serial in (0, 8, 9):
            values.append(None if serial == 0 else serial - 8)
        elif serial <= 6:
            width = (0, 1, 2, 3, 4, 6, 8)[serial]
            values.append(int.from_bytes(payload[j : j + width], "big", signed=True))
            j += width
        elif serial == 7:
            values.append(struct.unpack(">d", payload[j : j + 8])[0])
            j += 8
        else:
            width = (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
            chunk = payload[j : j + width]
            if len(chunk) < width:
                raise ValueError("record cut short")
            values.append(chunk if serial % 2 == 0 else chunk.decode("utf-8"))
            j += width
    return tuple(values)


def _looks_like_a_reply(record: tuple) -> bool:
    if len(record) != WIDTH:
        return False
    key, text, reason, prompt, completion, attempts, _created = record
    return (isinstance(key, str) and isinstance(text, str) and (reason is None or isinstance(reason, str))
            and all(v is None or isinstance(v, int) for v in (prompt, completion, attempts)))  # fmt: skip
