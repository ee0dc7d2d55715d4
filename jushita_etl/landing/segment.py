"""One record of the landing log and a log segment read back as a delivery table.

The layout (little-endian): u32 payload length, u32 crc32(payload); the payload holds the fixed fields
(``FIXED``), then msg_id, topic, tags and keys, each an i32 length (-1: null) and UTF-8 bytes, then the body.
``DurableLog`` (wal.py) writes it with ``encode``; the consumer's native callback (``mq/landing_callback.c``)
writes the same bytes. A record torn by a crash fails its CRC and is dropped: it was never acknowledged.

``read_segment`` reads a segment through ``segment.c`` (the file mapped, indexed and gathered column by column),
or record by record in Python when no C compiler is available (same table)."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from jushita_etl import native
from jushita_etl.landing.batches import LANDING_SCHEMA

HEADER = struct.Struct("<II")  # payload length, crc32(payload)
FIXED = struct.Struct("<iqqqi")  # queue_id, queue_offset, born_timestamp, received_ms, reconsume_times
TEXT_LENGTH = struct.Struct("<i")  # then msg_id, topic, tags, keys: length (-1: null) and UTF-8 bytes; then the body
NULL_TEXT = TEXT_LENGTH.pack(-1)
DELIVERY_SCHEMA = pa.schema([f for f in LANDING_SCHEMA if f.name != "batch_id"])

SOURCE = Path(__file__).resolve().with_name("segment.c")
LIBRARY = native.library_path(SOURCE)
INDEX_WIDTH = 11  # offsets per indexed record, see jwal_index
INDEX_CHUNK = 1 << 16
FIXED_DTYPE = np.dtype([("queue_id", "<i4"), ("queue_offset", "<i8"), ("born_timestamp", "<i8"),
                        ("received_ms", "<i8"), ("reconsume_times", "<i4")])  # FIXED, packed
assert FIXED_DTYPE.itemsize == FIXED.size

_library: ctypes.CDLL | None = None  # the built reader, its functions typed
_library_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    mq_msg_id: str
    mq_topic: str | None
    tags: str | None
    keys: str | None
    queue_id: int
    queue_offset: int
    born_timestamp: int
    reconsume_times: int
    body: bytes


def encode(d: Delivery, received_ms: int) -> bytes:
    """One log record (the layout landing_callback.c writes too)."""
    parts = [FIXED.pack(d.queue_id, d.queue_offset, d.born_timestamp, received_ms, d.reconsume_times)]
    for text in (d.mq_msg_id, d.mq_topic, d.tags, d.keys):
        if text is None:
            parts.append(NULL_TEXT)
        else:
            raw = text.encode()
            parts += [TEXT_LENGTH.pack(len(raw)), raw]
    parts.append(d.body)
    payload = b"".join(parts)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> pa.Table:
    """The intact records of a segment as a delivery table (a torn tail is ignored): read natively when the
    reader can be built here, else record by record in Python (same table)."""
    try:
        return read_segment_native(path)
    except native.NativeUnavailable:
        return read_segment_python(path)


def read_segment_python(path: Path) -> pa.Table:
    data = path.read_bytes()
    rows: list[tuple] = []
    pos = 0
    while pos + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, pos)
        start, end = pos + HEADER.size, pos + HEADER.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        queue_id, queue_offset, born, received_ms, reconsume_times = FIXED.unpack_from(data, start)
        at = start + FIXED.size
        texts = []
        for _ in range(4):
            (n,) = TEXT_LENGTH.unpack_from(data, at)
            at += TEXT_LENGTH.size
            texts.append(None if n < 0 else data[at:at + n].decode("utf-8", "replace"))
            at += max(n, 0)
        rows.append((*texts, queue_id, queue_offset, born, reconsume_times, data[at:end], received_ms))
        pos = end
    columns = [list(column) for column in zip(*rows)] if rows else [[] for _ in DELIVERY_SCHEMA]
    columns[-1] = pa.array(columns[-1], pa.timestamp("ms"))
    return pa.table(columns, schema=DELIVERY_SCHEMA)


def _reader() -> ctypes.CDLL:
    global _library
    with _library_lock:
        if _library is None:
            lib = ctypes.CDLL(str(native.build(SOURCE, library=LIBRARY)))
            lib.jwal_index.restype = ctypes.c_size_t
            lib.jwal_index.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                                       ctypes.c_void_p, ctypes.c_size_t]
            lib.jwal_gather.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                        ctypes.c_void_p, ctypes.c_void_p]
            _library = lib
    return _library


def read_segment_native(path: Path) -> pa.Table:
    """``read_segment`` without a Python step per record: the file is mapped, indexed by ``jwal_index`` and each
    column copied out by ``jwal_gather`` (the per-record loop measured 7-11 µs a record, and its garbage was most
    of the consumer's page faults). Raises ``NativeUnavailable`` when the reader cannot be built."""
    lib = _reader()
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return DELIVERY_SCHEMA.empty_table()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            data = np.frombuffer(mapped, np.uint8)
            try:
                return _segment_table(lib, data)
            finally:
                del data  # the map closes only once no array exports it; every column below is a copy


def _segment_table(lib: ctypes.CDLL, data: np.ndarray) -> pa.Table:
    chunks, pos = [], ctypes.c_size_t(0)
    while True:
        out = np.empty((INDEX_CHUNK, INDEX_WIDTH), np.int64)
        count = lib.jwal_index(data.ctypes.data, len(data), ctypes.byref(pos), out.ctypes.data, INDEX_CHUNK)
        chunks.append(out[:count])
        if count < INDEX_CHUNK:
            break
    index = np.ascontiguousarray(np.concatenate(chunks))
    rows = len(index)

    def variable(field: int) -> pa.Array:
        lengths = index[:, field + 1]
        offsets = np.empty(rows + 1, np.int32)
        values = np.empty(max(int(np.maximum(lengths, 0).sum()), 1), np.uint8)
        lib.jwal_gather(data.ctypes.data, index.ctypes.data, rows, field, offsets.ctypes.data, values.ctypes.data)
        nulls = int((lengths < 0).sum())
        validity = pa.py_buffer(np.packbits(lengths >= 0, bitorder="little")) if nulls else None
        return pa.Array.from_buffers(pa.binary(), rows, [validity, pa.py_buffer(offsets), pa.py_buffer(values)],
                                     null_count=nulls)

    def text(field: int) -> pa.Array:
        raw = variable(field)
        try:
            return raw.cast(pa.string())
        except pa.ArrowInvalid:  # not UTF-8 (the client passes any bytes): replaced, as the Python reader does
            return pa.array([None if v is None else v.decode("utf-8", "replace") for v in raw.to_pylist()], pa.string())

    fixed = data[index[:, :1] + np.arange(FIXED.size)].view(FIXED_DTYPE).reshape(rows)
    columns = [text(1), text(3), text(5), text(7)]
    columns += [pa.array(np.ascontiguousarray(fixed[name])) for name in ("queue_id", "queue_offset", "born_timestamp",
                                                                          "reconsume_times")]
    columns += [variable(9), pa.array(np.ascontiguousarray(fixed["received_ms"])).cast(pa.timestamp("ms"))]
    return pa.table(columns, schema=DELIVERY_SCHEMA)
