"""The consumer's native landing callback (``landing_callback.c``, built by ``jushita_etl.native``), loaded with
ctypes and wrapped here as a ``SegmentLog`` whose segments the compactor turns into Parquet batches.

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

from jushita_etl import native
from jushita_etl.landing.wal import SegmentLog
from jushita_etl.mq.source import CLIENT_LIBRARY, MessageCallback

SOURCE = Path(__file__).resolve().with_name("landing_callback.c")
LIBRARY = native.library_path(SOURCE)
_ERROR_SIZE = 512


_library: ctypes.CDLL | None = None  # the built library, its functions typed
_client_loaded = False  # whether it has resolved the client's getters (only the consume callback needs them)
batch_acks = False  # whether a pulled batch is acknowledged after one sync (jwal_batch_acks), not per message
_library_lock = threading.Lock()


def _built() -> ctypes.CDLL:
    global _library
    with _library_lock:
        if _library is None:
            lib = ctypes.CDLL(str(native.build(SOURCE, library=LIBRARY)))
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
            _library = lib
    return _library


def library() -> ctypes.CDLL:
    """The built library with the client's getters resolved (the wrapper's ``librocketmq.so``)."""
    global _client_loaded
    lib = _built()
    with _library_lock:
        if not _client_loaded:
            error = ctypes.create_string_buffer(_ERROR_SIZE)
            if lib.jwal_load_client(CLIENT_LIBRARY.encode(), error, _ERROR_SIZE) != 0:
                raise native.NativeUnavailable(error.value.decode(errors="replace"))
            # one fsync wait per pulled batch instead of per message (see jwal_batch_acks); when the client's
            # listener is not where this expects it, every callback waits for its own sync (slower, same result)
            global batch_acks
            batch_acks = lib.jwal_batch_acks(CLIENT_LIBRARY.encode()) == 1
            _client_loaded = True
    return lib


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
        # the C function itself, typed as the client's MessageCallBack (no Python trampoline)
        self.callback = MessageCallback(ctypes.cast(self._lib.jwal_on_message, ctypes.c_void_p).value)
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
        self._end(free=False)

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
        self._end(free=True)

    def _end(self, *, free: bool) -> None:
        """Close the native log (its flusher syncs what was appended, or has stopped at a failure), hand its closed
        segments to the compactor and release the directory, raising the writer's failure if there was one."""
        error = ctypes.create_string_buffer(_ERROR_SIZE)
        failed = self._lib.jwal_close(self._handle, error, _ERROR_SIZE) != 0
        self._stop.set()
        self._poller.join()
        self._hand_closed()
        self._final_stats = self.stats()
        if free:
            self._lib.jwal_free(self._handle)
        self._release(error.value.decode(errors="replace") if failed else None)

