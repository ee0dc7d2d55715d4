"""The consumer's native landing callback (``landing_callback.c``, built by ``native.build``), loaded with ctypes
and wrapped here as a ``SegmentLog`` whose segments the compactor turns into Parquet batches.

``NativeLandingLog.callback`` is registered with the client in place of a Python callback (see
``source.MQConsumer``): each message is encoded, appended and group-committed by C code on the client's consume
threads, so acknowledging after the fsync costs no GIL hand-over per message. When no compiler is available the
consumer falls back to the Python callback over ``DurableLog`` (same records, same guarantees, lower rate).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from jushita_etl.landing.wal import DELIVERY_SCHEMA, FIXED, SegmentLog
from jushita_etl.mq import native
from jushita_etl.mq.native import NativeUnavailable

LIBRARY = native.library_path("landing_callback")
_ERROR_SIZE = 512


_library: ctypes.CDLL | None = None  # the built library, its functions typed
_client_loaded = False  # whether it has resolved the client's getters (only the consume callback needs them)
batch_acks = False  # whether a pulled batch is acknowledged after one sync (jwal_batch_acks), not per message
_library_lock = threading.Lock()
INDEX_WIDTH = 11  # offsets per indexed record, see jwal_index
INDEX_CHUNK = 1 << 16
FIXED_DTYPE = np.dtype([("queue_id", "<i4"), ("queue_offset", "<i8"), ("born_timestamp", "<i8"),
                        ("received_ms", "<i8"), ("reconsume_times", "<i4")])  # wal.FIXED, packed
assert FIXED_DTYPE.itemsize == FIXED.size


def _built() -> ctypes.CDLL:
    global _library
    with _library_lock:
        if _library is None:
            lib = ctypes.CDLL(str(native.build("landing_callback", library=LIBRARY)))
            lib.jwal_load_client.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_batch_acks.argtypes = [ctypes.c_char_p]
            lib.jwal_open.restype = ctypes.c_void_p
            lib.jwal_open.argtypes = [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_double, ctypes.c_int,
                                      ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_append.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_next_closed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_stats.argtypes = [ctypes.c_void_p, *[ctypes.POINTER(ctypes.c_uint64)] * 3,
                                       *[ctypes.POINTER(ctypes.c_double)] * 2]
            lib.jwal_close.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_failed.argtypes = [ctypes.c_void_p]
            lib.jwal_free.argtypes = [ctypes.c_void_p]
            lib.jwal_bind.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            lib.jwal_unbind.argtypes = [ctypes.c_void_p]
            lib.jwal_index.restype = ctypes.c_size_t
            lib.jwal_index.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                                       ctypes.c_void_p, ctypes.c_size_t]
            lib.jwal_gather.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                        ctypes.c_void_p, ctypes.c_void_p]
            _library = lib
    return _library


def library() -> ctypes.CDLL:
    """The built library with the client's getters resolved (the wrapper's ``librocketmq.so``)."""
    global _client_loaded
    lib = _built()
    with _library_lock:
        if not _client_loaded:
            from rocketmq.ffi import _DYLIB_PATH

            error = ctypes.create_string_buffer(_ERROR_SIZE)
            if lib.jwal_load_client(_DYLIB_PATH.encode(), error, _ERROR_SIZE) != 0:
                raise NativeUnavailable(error.value.decode(errors="replace"))
            # one fsync wait per pulled batch instead of per message (see jwal_batch_acks); when the client's
            # listener is not where this expects it, every callback waits for its own sync (slower, same result)
            global batch_acks
            batch_acks = lib.jwal_batch_acks(_DYLIB_PATH.encode()) == 1
            _client_loaded = True
    return lib


def read_segment(path: Path) -> pa.Table:
    """``wal.read_segment`` without a Python step per record: the file is mapped, indexed by ``jwal_index`` and
    each column copied out by ``jwal_gather`` (the per-record loop measured 7-11 µs a record, and its garbage was
    most of the consumer's page faults). Needs no client: builds read segments too."""
    lib = _built()
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


@dataclass(frozen=True)
class LogCounts:
    landed: int  # records acknowledged (durable)
    rejected: int  # records refused (log failed or closing): their callbacks answered RECONSUME_LATER
    syncs: int  # fdatasync calls: each made every record appended before it durable
    first_at: float | None  # time.monotonic() of the first and the latest acknowledgement
    last_at: float | None


class NativeLandingLog(SegmentLog):
    """A durable log written by the native callback: records from the client's consume threads are fsynced in
    groups by a C flusher thread; a poller hands each closed segment to the compactor."""

    def __init__(self, landing_dir: Path, *, segment_rows: int = 50_000, segment_bytes: int = 64 << 20,
                 segment_seconds: float = 2.0, fsync: bool = True):
        self._lib = library()  # before any directory is made: NativeUnavailable leaves nothing behind
        super().__init__(landing_dir, fsync=fsync)
        error = ctypes.create_string_buffer(_ERROR_SIZE)
        self._handle = self._lib.jwal_open(str(self.dir).encode(), segment_rows, segment_bytes, segment_seconds,
                                           int(fsync), error, _ERROR_SIZE)
        if not self._handle:
            self._release()
            raise RuntimeError(error.value.decode(errors="replace"))
        from rocketmq.ffi import MSG_CALLBACK_FUNC

        # the C function itself, typed as the client's MessageCallBack (no Python trampoline)
        self.callback = MSG_CALLBACK_FUNC(ctypes.cast(self._lib.jwal_on_message, ctypes.c_void_p).value)
        self._bound: list[int] = []
        self._final_stats: LogCounts | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_closed, name="wal-closed", daemon=True)
        self._poller.start()

    def bind(self, consumer_handle: int) -> None:
        """Route the callbacks of this client consumer into this log."""
        if self._lib.jwal_bind(consumer_handle, self._handle) != 0:
            raise RuntimeError("too many consumers in one process for the native landing callback")
        self._bound.append(consumer_handle)

    def append_record(self, record: bytes) -> bool:
        """Append one encoded record (``wal.encode``) and wait for its fsync, as a callback does. False: not durable."""
        if self._final_stats is not None:  # closed: the native log is gone
            return False
        return self._lib.jwal_append(self._handle, record, len(record)) == 0

    def stats(self) -> LogCounts:
        if self._final_stats is not None:  # closed: the native log is gone
            return self._final_stats
        landed, rejected, syncs = ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
        first, last = ctypes.c_double(), ctypes.c_double()
        self._lib.jwal_stats(self._handle, *map(ctypes.byref, (landed, rejected, syncs, first, last)))
        return LogCounts(landed.value, rejected.value, syncs.value, first.value or None, last.value or None)

    @property
    def failed(self) -> bool:
        # while open, a refused record means the native log failed (it refuses nothing else before closing)
        return super().failed or (self._final_stats is None and self.stats().rejected > 0)

    @property
    def refusing(self) -> bool:
        return self._final_stats is None and bool(self._lib.jwal_failed(self._handle))

    def abandon(self) -> None:
        """End a log whose writer failed while consume threads hold what it refused (see ``hold_locked`` in
        landing_callback.c): close its segment, leave its directory to the next start's recovery and raise the
        failure. The native log stays allocated and bound: the held threads wait on it until the process ends."""
        error = ctypes.create_string_buffer(_ERROR_SIZE)
        self._lib.jwal_close(self._handle, error, _ERROR_SIZE)  # the flusher stopped at the failure: no wait
        self._stop.set()
        self._poller.join()
        self._hand_closed()
        self._final_stats = self.stats()
        self._release(error.value.decode(errors="replace") or "the log's writer failed")

    def _hand_closed(self) -> None:
        path = ctypes.create_string_buffer(4096)
        while self._lib.jwal_next_closed(self._handle, path, len(path)):
            self._compact_queue.put(Path(path.value.decode()))

    def _poll_closed(self) -> None:
        while not self._stop.wait(0.05):
            self._hand_closed()

    def close(self) -> None:
        """Refuse new records, sync the last ones, compact everything into Parquet and release the directory."""
        for handle in self._bound:
            self._lib.jwal_unbind(handle)
        error = ctypes.create_string_buffer(_ERROR_SIZE)
        failed = self._lib.jwal_close(self._handle, error, _ERROR_SIZE) != 0
        self._stop.set()
        self._poller.join()
        self._hand_closed()
        self._final_stats = self.stats()
        self._lib.jwal_free(self._handle)
        self._release(error.value.decode(errors="replace") if failed else None)

