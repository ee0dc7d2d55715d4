"""Connections to the warehouse, and how a build becomes visible to analysts.

DuckDB allows one writing process per file, and an open writer blocks even read-only opens. So the pipeline
writes a private build database (``<data>/build/warehouse-build.duckdb``), one writer at a time under a file
lock, and *publishes* it: a checkpointed copy is written next to ``<data>/warehouse.duckdb``, fsynced, and
renamed over it. Analysts' read-only connections keep the snapshot they opened (the old inode) for as long as
they like; a new connection sees the newest complete build. No reader ever sees a half-built state, and no
reader can stall a build.

The parsed deliveries (``parsed.deliveries``: every distinct delivery's envelope, verdict and content) are the
pipeline's own and are never published: they live in a second file next to the build database
(``<data>/build/parsed-deliveries.duckdb``), attached to the writer as the catalog ``parsed``. Publishing then
copies only what analysts read (the copy of a 1M build: 190 -> 96 MB), and since that file is never copied, its
content is stored uncompressed, which is cheaper to write and to read back. A DuckDB transaction writes to one
database only, so an ingest is two transactions (see ``steps.ingest``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

import duckdb

from jushita_etl.landing.manifest import fsync_dir
from jushita_etl.settings import Paths
from jushita_etl.warehouse import sql


T = TypeVar("T")


class WarehouseBusy(RuntimeError):
    pass


class ParsedDeliveriesMissing(RuntimeError):
    pass


def prepare(conn: duckdb.DuckDBPyConnection, parsed_db: Path | str = ":memory:") -> None:
    """Session settings, the parsed deliveries' database attached as ``parsed`` (see the module docstring), the
    contract's tables (idempotent) and the parsing macros."""
    conn.execute("SET TimeZone = 'UTC'")  # timestamps are naive China wall-clock; no session zone may shift them
    conn.execute("SET preserve_insertion_order = false")  # row order carries no meaning here; lets inserts run in parallel
    conn.execute(f"ATTACH IF NOT EXISTS {sql.literal(str(parsed_db))} AS parsed")  # DDL takes no bound parameters
    sql.run(conn, "internal/schema")
    _move_parsed_deliveries_out(conn)
    sql.run(conn, "internal/macros")


def _move_parsed_deliveries_out(conn: duckdb.DuckDBPyConnection) -> None:
    """A build database made before the parsed deliveries had their own file holds them as ``etl.deliveries``: they
    are moved to ``parsed.deliveries`` (one transaction), then dropped (another; a failure in between leaves both,
    and the next writer skips the copy, the table being filled already)."""
    if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                        "AND schema_name = 'etl' AND table_name = 'deliveries'").fetchone()[0]:
        return
    conn.execute("INSERT INTO parsed.deliveries BY NAME SELECT * FROM etl.deliveries "
                 "WHERE NOT EXISTS (SELECT 1 FROM parsed.deliveries)")
    conn.execute("DROP TABLE etl.deliveries")


# Writers handed over from one block of this process to the next (see ``writer``): build database -> (the open
# lock file holding the flock, the connection).
_handed_over: dict[Path, tuple[IO, duckdb.DuckDBPyConnection]] = {}
_handover_lock = threading.Lock()


def _take_handed_over(build_db: Path) -> tuple[IO, duckdb.DuckDBPyConnection] | None:
    with _handover_lock:
        return _handed_over.pop(build_db, None)


@contextmanager
def writer(paths: Paths, *, timeout: float = 600.0, hand_over: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The single writer connection to the build database, held under an exclusive file lock.

    With ``hand_over``, a block that ends without an error keeps the lock and the open connection for the next
    ``writer`` of this process for the same database, on any thread, which takes them instead of waiting for the
    lock (``release_handed_over`` closes them if no one does). A build's parse, on its own thread, hands its writer
    to the run's first step so: closing and reopening the database in between (a checkpoint, an open, a cold
    cache) cost 0.1 s on the way from the parse to the event tables."""
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    lock, conn = _acquire(paths, timeout)
    handing = False
    try:
        yield conn
        handing = hand_over
    finally:
        if handing:
            with _handover_lock:
                _handed_over[paths.build_db] = (lock, conn)
        else:
            _close(lock, conn)


def release_handed_over(paths: Paths) -> None:
    """Close a writer handed over (``writer(..., hand_over=True)``) that no later block took, releasing its lock."""
    taken = _take_handed_over(paths.build_db)
    if taken is not None:
        _close(*taken)


def _acquire(paths: Paths, timeout: float) -> tuple[IO, duckdb.DuckDBPyConnection]:
    """The lock and a prepared connection, or the writer another block of this process handed over: its open lock
    file keeps the lock held, so trying the lock fails until it is taken (flock locks belong to each open file)."""
    lock = open(paths.build_dir / "writer.lock", "a+")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                taken = _take_handed_over(paths.build_db)
                if taken is not None:
                    lock.close()
                    return taken
                if time.monotonic() > deadline:
                    raise WarehouseBusy("another build holds the warehouse writer lock") from None
                # every 5 ms: in a build, the run's first step waits here for the parse to finish, and polling
                # every 50 ms lost 25 ms on average
                time.sleep(0.005)
        conn = duckdb.connect(str(paths.build_db))
        try:
            prepare(conn, paths.parsed_db)
            if conn.execute("SELECT (SELECT sum(rows) FROM etl.ingested_batches) > 0 "
                            "AND NOT EXISTS (SELECT 1 FROM parsed.deliveries)").fetchone()[0]:
                raise ParsedDeliveriesMissing(
                    f"the parsed deliveries of the batches ingested so far are missing from {paths.parsed_db}; "
                    f"remove {paths.build_dir} and build again to rebuild everything from the landing zone")
        except BaseException:
            conn.close()
            raise
        return lock, conn
    except BaseException:
        lock.close()  # closing the file releases the lock
        raise


def _close(lock: IO, conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.close()
    finally:
        lock.close()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction: committed when the block ends, rolled back (and the error re-raised) when it raises,
    so a failed step never leaves the run's shared writer connection inside an open transaction."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def publish(conn: duckdb.DuckDBPyConnection, paths: Paths,
            alongside: Callable[[duckdb.DuckDBPyConnection], T] | None = None) -> tuple[Path, T | None]:
    """Make the current build the analysts' file, atomically. Call with the writer connection.

    ``alongside``, if given, runs on a second connection to the checkpointed build database while its copy is
    written and synced, and its result is returned with the path: the copy is byte for byte what that connection
    reads (nothing writes in between: this is the writer), so a query there counts what the published file holds.
    The copy and its fsync are I/O, a query is CPU: run side by side they take 0.27-0.31 s instead of 0.54-0.59 s
    (the reconciliation of a 1M build, which opened the copy afterwards)."""
    conn.execute("CHECKPOINT")
    tmp = paths.warehouse.with_name(f".{paths.warehouse.name}.{os.getpid()}.tmp")
    # the pool is left (its count finished) before the cursor it counts on is closed, also when the copy fails
    with conn.cursor() as second, ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish") as pool:
        counted = pool.submit(alongside, second) if alongside else None
        shutil.copyfile(paths.build_db, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        result = counted.result() if counted else None
    os.replace(tmp, paths.warehouse)
    fsync_dir(paths.warehouse.parent)
    return paths.warehouse, result


def reader(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, as an analyst would open it."""
    if not paths.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}; run `jushita-etl build` first")
    return duckdb.connect(str(paths.warehouse), read_only=True)
