"""An append-only local log with group-commit fsync: how a per-message acknowledgement can wait for durability.

The RocketMQ push consumer calls back once per message and advances its offset as soon as the callback returns
success. ``DurableLog.append`` returns only once the delivery is fsynced: concurrent callbacks (one per consume
thread) are written and fsynced together by one flusher thread, so one fsync covers many messages. The consumer's
native callback (``jushita_etl/mq/landing_callback.c``) does the same without Python and writes the same records
(``segment.py``) into the same kind of directory; ``SegmentLog`` is what both share.

Segments are rotated by count, bytes and age, and compacted into Parquet micro-batches by the landing store; the
batch id is the segment's name, so compacting a segment twice (after a crash) is a no-op. Each process writes in
its own directory, held with an exclusive lock; at start, segments of directories whose owner is gone are
compacted first. A record torn by a crash is detected by its CRC and dropped: it was never acknowledged.

Long because: a log directory's ownership is one protocol (made and locked, recovered when its owner died, removed
while still locked) between ``recover_orphans``, ``_own_directory`` and ``SegmentLog``; split, the locking that keeps
consumers side by side from taking each other's directory would be read across modules.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
from pathlib import Path
from typing import IO

from jushita_etl.landing.batches import BatchStore, CommittedBatch, fsync_dir, read_manifest
from jushita_etl.landing.segment import Delivery, encode, read_segment

CHINA_OFFSET_S = 8 * 3600  # received_at is China wall-clock time, like every time in the warehouse


def compact_segment(store: BatchStore, segment: Path,
                    known: set[str] | None = None) -> tuple[int, CommittedBatch | None]:
    """Commit a segment as the Parquet batch named after it (skipped if the manifest has it), then delete it.
    Returns the rows the segment held and the batch committed, if any."""
    batch_id = segment.stem
    table = read_segment(segment)
    batch = None
    if table.num_rows and (known is None or batch_id not in known):
        batch = store.commit(table, batch_id)
    segment.unlink()
    return table.num_rows, batch


def recover_orphans(store: BatchStore) -> int:
    """Compact the log segments left by consumers that died (their directory lock is free). Returns rows.

    Several consumers (of other groups) may start and stop beside each other in one landing zone, so this never
    takes a directory that is not an orphan: one still being set up has a dot name (``_own_directory``); one whose
    ``owner.lock`` is gone, or is no longer the file locked here, is being removed by its owner or by another
    recovery. The lock file is opened, never created."""
    root = store.root / "wal"
    if not root.is_dir():
        return 0
    known = {entry["batch_id"] for entry in read_manifest(store.root)[0]}
    recovered = 0
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = directory / "owner.lock"
        try:
            lock = open(path, "r+")
        except FileNotFoundError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.stat(path).st_ino != os.fstat(lock.fileno()).st_ino:
                    continue
            except (BlockingIOError, FileNotFoundError):
                continue  # a live consumer owns it, or it went away meanwhile
            for segment in sorted(directory.glob("*.wal")):
                recovered += compact_segment(store, segment, known)[0]  # the segment is read once
            path.unlink()
            directory.rmdir()
    fsync_dir(root)
    return recovered


def _own_directory(root: Path) -> tuple[Path, IO]:
    """A new log directory under ``root``, named by start time and pid, and its ``owner.lock`` open and locked: made
    under a dot name and renamed once locked, so that no other process's recovery can take it meanwhile. (A
    process killed within that instant leaves an empty dot directory, which holds nothing.)"""
    while True:
        name = f"{time.time_ns():020d}-{os.getpid()}"
        making = root / f".{name}"
        try:
            making.mkdir()
        except FileExistsError:  # another log of this process, in the same nanosecond
            continue
        lock = open(making / "owner.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(making, root / name)
        return root / name, lock


class SegmentLog:
    """What every durable log shares: its own directory under ``landing/wal`` (held with an exclusive lock, named
    by start time and pid), the recovery of directories whose owner died, and a compactor thread that turns each
    closed segment into the Parquet batch named after it. Subclasses write the segments."""

    def __init__(self, landing_dir: Path, *, fsync: bool = True):
        self.store = BatchStore(landing_dir, fsync=fsync)
        self.store.repair()
        self.fsync = fsync
        self.root = Path(landing_dir) / "wal"
        self.root.mkdir(parents=True, exist_ok=True)
        self.committed: list[CommittedBatch] = []
        self.recovered = recover_orphans(self.store)
        self.dir, self._lock_file = _own_directory(self.root)
        if fsync:
            fsync_dir(self.root)
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._compact_queue: queue.Queue = queue.Queue()  # closed segment paths; None ends the compactor
        self._compactor = threading.Thread(target=self._compact_loop, name="wal-compact", daemon=True)
        self._compactor.start()

    @property
    def failed(self) -> bool:
        """Whether the log can no longer land what it acknowledged or is given (a full disk, say): its owner stops."""
        return self._failure is not None

    @property
    def refusing(self) -> bool:
        """Whether consume threads may be holding deliveries this log refused: then the consumer must end with
        ``abandon`` instead of ``close`` (see MQConsumer.abandon)."""
        return self.failed

    def abandon(self) -> None:
        """End the log after a failure without waiting for the consume threads holding what it refused, leaving its
        segments to the next start's recovery; raises the failure."""
        self.close()

    def _compact(self, segment: Path) -> None:
        _, batch = compact_segment(self.store, segment)
        if batch:
            self.committed.append(batch)

    def _compact_loop(self) -> None:
        while True:
            segment = self._compact_queue.get()
            if segment is None:
                return
            try:
                self._compact(segment)
            except BaseException as exc:  # the segment stays on disk and is compacted at the next start
                with self._lock:
                    self._failure = exc

    def _release(self, write_error: str | None = None) -> None:
        """After the last segment was handed to the compactor: wait for it, then give the directory up. After a
        failure (of the writer: ``write_error``, or of compaction) the directory and its segments stay, unlocked,
        for the next start to compact (``recover_orphans``), and this raises."""
        self._compact_queue.put(None)
        self._compactor.join()
        failure = write_error or self._failure
        if failure is not None:
            self._lock_file.close()
            raise RuntimeError(f"landing log failed: {failure}")
        try:  # removed while still locked, so that a starting consumer's recovery never races its removal
            for leftover in sorted(self.dir.glob("*.wal")):  # closed but never announced (the writer ran out of memory)
                self._compact(leftover)
            (self.dir / "owner.lock").unlink()
            self.dir.rmdir()
        finally:
            self._lock_file.close()


class DurableLog(SegmentLog):
    """The log appended to from Python (one ``append`` per delivery, from any thread)."""

    def __init__(self, landing_dir: Path, *, segment_rows: int = 50_000, segment_bytes: int = 64 << 20,
                 segment_seconds: float = 2.0, fsync: bool = True):
        super().__init__(landing_dir, fsync=fsync)
        self.segment_rows, self.segment_bytes, self.segment_seconds = segment_rows, segment_bytes, segment_seconds
        self._work = threading.Condition(self._lock)  # the flusher waits here for records
        self._pending: list[bytes] = []
        # One lock per waiting append (parallel to _pending), released by the flusher once its record is fsynced:
        # each fsync wakes exactly the callbacks it made durable, instead of every waiting consume thread.
        self._waiters: list[threading.Lock] = []
        self._closed = False
        self._segment_no = 0
        self._open_segment()
        self._flusher = threading.Thread(target=self._flush_loop, name="wal-flush", daemon=True)
        self._flusher.start()

    # --- appending (any thread) ---------------------------------------------------------------------------
    def append(self, delivery: Delivery) -> None:
        """Return once ``delivery`` is on disk (fsynced); raise if the log cannot make it durable."""
        record = encode(delivery, int((time.time() + CHINA_OFFSET_S) * 1000))
        durable = threading.Lock()
        durable.acquire()
        with self._lock:
            if self._closed:
                raise RuntimeError("the landing log is closed")
            if self._failure is not None:
                raise RuntimeError(f"landing log failed: {self._failure}")
            self._pending.append(record)
            self._waiters.append(durable)
            self._work.notify()
        durable.acquire()  # released by the flusher after the fsync that covers this record (or on failure)
        if self._failure is not None:
            raise RuntimeError(f"landing log failed: {self._failure}")

    # --- flusher thread -----------------------------------------------------------------------------------
    def _open_segment(self) -> None:
        self._segment_no += 1
        self._segment_path = self.dir / f"{time.time_ns():020d}-w{os.getpid()}-{self._segment_no:06d}.wal"
        self._segment = open(self._segment_path, "ab", buffering=0)
        if self.fsync:  # the new name must survive a power cut too, before any record in it is acknowledged
            fsync_dir(self.dir)
        self._segment_rows = self._segment_bytes_written = 0
        self._segment_opened = time.monotonic()

    def _close_segment(self) -> None:
        """Hand the current segment to the compactor (or drop it when it holds nothing)."""
        self._segment.close()
        if self._segment_rows:
            self._compact_queue.put(self._segment_path)
        else:
            self._segment_path.unlink(missing_ok=True)

    def _flush_loop(self) -> None:
        waiters: list[threading.Lock] = []
        try:
            while True:
                with self._work:
                    while not self._pending and not self._closed:
                        timeout = self.segment_seconds - (time.monotonic() - self._segment_opened)
                        if self._segment_rows and timeout <= 0:
                            break
                        self._work.wait(timeout=max(timeout, 0.05) if self._segment_rows else None)
                    batch, self._pending = self._pending, []
                    waiters, self._waiters = self._waiters, []
                    closing = self._closed
                if batch:
                    data = b"".join(batch)
                    unwritten = memoryview(data)
                    while unwritten:  # a nearly full disk takes part of a write without an error: then the rest fails
                        unwritten = unwritten[os.write(self._segment.fileno(), unwritten):]
                    if self.fsync:
                        os.fsync(self._segment.fileno())
                    self._segment_rows += len(batch)
                    self._segment_bytes_written += len(data)
                for waiter in waiters:
                    waiter.release()
                waiters = []
                if (closing or self._segment_rows >= self.segment_rows or self._segment_bytes_written >= self.segment_bytes
                        or (self._segment_rows and time.monotonic() - self._segment_opened >= self.segment_seconds)):
                    self._close_segment()
                    if closing:
                        return
                    self._open_segment()
        except BaseException as exc:
            with self._lock:
                self._failure = exc
                waiters, self._waiters = waiters + self._waiters, []
            for waiter in waiters:  # not durable: their callbacks raise, so the broker delivers them again
                waiter.release()

    def close(self) -> None:
        """Flush, compact everything into Parquet and release the directory."""
        with self._lock:
            self._closed = True
            self._work.notify()
        self._flusher.join()
        self._release()
