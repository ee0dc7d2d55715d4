"""The consumer's native landing callback (``landing_callback.c``, built by ``native.build``), loaded with ctypes
and wrapped here as a ``SegmentLog`` whose segments the compactor turns into Parquet batches.

``NativeLandingLog.callback`` is registered with the client in place of a Python callback (see
``source.MQConsumer``): each message is encoded, appended and group-committed by C code on the client's consume
threads, so acknowledging after the fsync costs no GIL hand-over per message. When no compiler is available the
consumer falls back to the Python callback over ``DurableLog`` (same records, same guarantees, lower rate).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

from jushita_etl.landing.wal import SegmentLog
from jushita_etl.mq import native
from jushita_etl.mq.native import NativeUnavailable

LIBRARY = native.library_path("landing_callback")
_ERROR_SIZE = 512


_library: ctypes.CDLL | None = None
_library_lock = threading.Lock()


def library() -> ctypes.CDLL:
    """The built library with the client's getters resolved (the wrapper's ``librocketmq.so``)."""
    global _library
    with _library_lock:
        if _library is None:
            lib = ctypes.CDLL(str(native.build("landing_callback", library=LIBRARY)))
            lib.jwal_load_client.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_open.restype = ctypes.c_void_p
            lib.jwal_open.argtypes = [ctypes.c_char_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_double, ctypes.c_int,
                                      ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_append.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_next_closed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_stats.argtypes = [ctypes.c_void_p, *[ctypes.POINTER(ctypes.c_uint64)] * 3,
                                       *[ctypes.POINTER(ctypes.c_double)] * 2]
            lib.jwal_close.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.jwal_free.argtypes = [ctypes.c_void_p]
            lib.jwal_bind.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            lib.jwal_unbind.argtypes = [ctypes.c_void_p]
            from rocketmq.ffi import _DYLIB_PATH

            error = ctypes.create_string_buffer(_ERROR_SIZE)
            if lib.jwal_load_client(_DYLIB_PATH.encode(), error, _ERROR_SIZE) != 0:
                raise NativeUnavailable(error.value.decode(errors="replace"))
            _library = lib
    return _library


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

