"""The writer's connection to the lakehouse (``lake.py``), one writer at a time, and its transactions.

The pipeline writes the DuckLake catalog through one connection at a time, held under a file lock in the data
directory's ``build/``; readers never take the lock (they read the last published snapshot, see ``lake.py``).
Every table, the pipeline's own bookkeeping (schema ``etl``) included, lives in the catalog: a build node needs
nothing but the catalog and the data path, and a step's transaction commits its tables and its bookkeeping as one
snapshot.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

import duckdb

from jushita_etl.holder import holder, try_hold
from jushita_etl.settings import Paths, lake as lake_settings
from jushita_etl.warehouse import lake, sql, tables


T = TypeVar("T")


class WarehouseBusy(RuntimeError):
    pass


def prepare(conn: duckdb.DuckDBPyConnection) -> None:
    """Session settings, the contract's tables (idempotent), the parsing macros and the parse's topic routes, on a
    connection whose default catalog is the lake (``USE lake``)."""
    conn.execute("SET preserve_insertion_order = false")  # row order carries no meaning here; lets inserts run in parallel
    # What a catalog an older version wrote needs is looked up before the transaction: a lookup that fails (the
    # table or column is not there) aborts the transaction it runs in on DuckDB 2.
    queue = _older_event_queue(conn)
    rehash = _delivery_hashes(conn)
    # one transaction: on the lake every DDL statement outside one is a snapshot of its own, and creating a new
    # catalog's ~30 tables one commit at a time cost 1.7 s (0.07 s as one commit; 0.09 -> 0.01 s when they exist)
    with transaction(conn):
        sql.run(conn, "internal/schema")
        sql.run(conn, "internal/landed_batches")
        if queue:
            conn.execute("DROP TABLE etl.pending_events")
        if rehash == "add":
            conn.execute("ALTER TABLE etl.deliveries ADD COLUMN msg_hash UBIGINT")
        if rehash:
            conn.execute("UPDATE etl.deliveries SET msg_hash = hash(mq_msg_id)")
    sql.run(conn, "internal/macros")
    tables.create_topic_routes(conn)
    _unprepared.discard(id(conn))


class QueuedByAnOlderVersion(RuntimeError):
    pass


def _older_event_queue(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the catalog holds an empty ``etl.pending_events``, to be dropped: the queue an older version kept
    between its ingest and its event step (the ingest now writes the event tables itself). Messages still queued
    there (a build that stopped between those two steps) would never reach their tables, so the build refuses and
    says how to repair: the landing zone is the source of truth."""
    try:  # a lookup of the one table: listing the catalog's tables (duckdb_tables) reads every table's metadata
        queued = conn.execute("SELECT EXISTS (FROM etl.pending_events)").fetchone()[0]
    except duckdb.CatalogException:
        return False
    if queued:
        raise QueuedByAnOlderVersion("this catalog holds messages queued by an older jushita-etl (etl.pending_events)"
                                     "; run `jushita-etl rebuild` to build it anew from the landing zone")
    return True


def _delivery_hashes(conn: duckdb.DuckDBPyConnection) -> str | None:
    """What ``etl.deliveries.msg_hash`` needs: "add" (a catalog an older jushita-etl wrote has no such column),
    "fill" (DuckDB's ``hash`` changed), or None. The ingest looks its ids up on that column, so it must be
    ``hash(mq_msg_id)`` as this DuckDB computes it, in every row (a row that differs would let a redelivery in
    twice), and ``hash`` is not promised to stay the same across versions: the column is (added and) filled in anew
    in the preparation's transaction, so no build ever sees it half filled. One row tells: a changed hash function
    changes them all."""
    try:
        same = conn.execute("SELECT bool_and(msg_hash = hash(mq_msg_id)) FROM "
                            "(SELECT msg_hash, mq_msg_id FROM etl.deliveries LIMIT 1)").fetchone()[0]
    except duckdb.CatalogException:  # a new catalog: the schema creates the table with the column
        return None
    except duckdb.BinderException:  # bound, not run: the columns are known from the catalog
        return "add"
    return "fill" if same is False else None


# Writer connections opened without ``prepare`` (``writer(prepared=False)``), by id: never handed over as they are.
_unprepared: set[int] = set()


def ensure_raw_view(conn: duckdb.DuckDBPyConnection, batches: str) -> None:
    """``raw_messages``: a view over the landed Parquet batches already ingested (contract §5 allows a view), at
    ``batches`` (a directory or prefix: ``LakeSettings.batch_location``); (re)defined by the ingest only when it is
    missing or points elsewhere, so a build adds no schema change to the catalog (and a view over no file yet,
    which DuckDB refuses, is never defined).

    DDL takes no bound parameters, so the landing path is written as a properly escaped SQL string literal.
    Readers see exactly the batches of their snapshot, even while new files land.
    """
    pattern = sql.literal(batches + "*.parquet")
    definition = (
        "CREATE VIEW raw_messages AS SELECT mq_msg_id, mq_topic, tags, keys, queue_id, queue_offset, "
        f"born_timestamp, reconsume_times, body, received_at, batch_id FROM read_parquet({pattern}) "
        "WHERE batch_id IN (SELECT batch_id FROM etl.ingested_batches)"
    )
    current = conn.execute("SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
                           "AND schema_name = 'main' AND view_name = 'raw_messages'").fetchone()
    if current is None or pattern not in current[0]:
        conn.execute(definition.replace("CREATE VIEW", "CREATE OR REPLACE VIEW"))


# Writers handed over from one block of this process to the next (see ``writer``): build directory -> (the open
# lock file holding the flock, the connection).
_handed_over: dict[Path, tuple[IO, duckdb.DuckDBPyConnection]] = {}
_handover_lock = threading.Lock()


def _take_handed_over(build_db: Path) -> tuple[IO, duckdb.DuckDBPyConnection] | None:
    with _handover_lock:
        return _handed_over.pop(build_db, None)


@contextmanager
def writer(paths: Paths, *, timeout: float = 600.0, hand_over: bool = False, prepared: bool = True
           ) -> Iterator[duckdb.DuckDBPyConnection]:
    """The single writer connection to the lakehouse, held under an exclusive file lock in the build directory.

    With ``hand_over``, a block that ends without an error keeps the lock and the open connection for the next
    ``writer`` of this process for the same database, on any thread, which takes them instead of waiting for the
    lock (``release_handed_over`` closes them if no one does). A build's parse, on its own thread, hands its writer
    to the run's first step so: closing and reopening the database in between (a checkpoint, an open, a cold
    cache) cost 0.1 s on the way from the parse to the event tables.

    ``prepared=False`` skips ``prepare`` (0.4 s of idempotent DDL and macros) for a block that may only read, such
    as a build's plan; the block calls ``prepare`` itself before it writes. Such a connection is handed over only
    once prepared."""
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    lock, conn = _acquire(paths, timeout, prepared)
    handing = False
    try:
        yield conn
        handing = hand_over and id(conn) not in _unprepared
    finally:
        if handing:
            with _handover_lock:
                _handed_over[paths.build_dir] = (lock, conn)
        else:
            _unprepared.discard(id(conn))
            _close(lock, conn)


@contextmanager
def handed_over(paths: Paths) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The writer a block of this process handed over (``writer(..., hand_over=True)``), closed with its lock when
    the block ends; None when there is none. Never waits for the lock."""
    taken = _take_handed_over(paths.build_dir)
    try:
        yield taken[1] if taken is not None else None
    finally:
        if taken is not None:
            _close(*taken)


def release_handed_over(paths: Paths) -> None:
    """Close a writer handed over (``writer(..., hand_over=True)``) that no later block took, releasing its lock."""
    taken = _take_handed_over(paths.build_dir)
    if taken is not None:
        _close(*taken)


def _acquire(paths: Paths, timeout: float, prepared: bool = True) -> tuple[IO, duckdb.DuckDBPyConnection]:
    """The lock and a prepared connection, or the writer another block of this process handed over: its open lock
    file keeps the lock held, so trying the lock fails until it is taken (flock locks belong to each open file)."""
    path = paths.build_dir / "writer.lock"
    deadline, said = time.monotonic() + timeout, False
    while (lock := try_hold(path, " ".join(Path(a).name for a in sys.argv[:2]) or "python")) is None:
        taken = _take_handed_over(paths.build_dir)
        if taken is not None:
            return taken
        if time.monotonic() > deadline:
            raise WarehouseBusy(f"another writer holds the warehouse in {paths.data_dir}: {holder(path)}; "
                                "nothing was changed, try again when it is done")
        if not said and time.monotonic() > deadline - timeout + 1:  # a hand-over takes milliseconds: only then
            said = True
            print(f"waiting for the warehouse writer: {holder(path)}", file=sys.stderr, flush=True)
        # every 5 ms: in a build, the run's first step waits here for the parse to finish, and polling every
        # 50 ms lost 25 ms on average
        time.sleep(0.005)
    try:
        conn = open_writer_connection(paths)
        try:
            if prepared:
                prepare(conn)
            else:
                _unprepared.add(id(conn))
        except BaseException:
            conn.close()
            raise
        return lock, conn
    except BaseException:
        lock.close()  # closing the file releases the lock
        raise


def open_writer_connection(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A connection with the lake attached for writing and made the default catalog (no lock taken)."""
    return lake.open_catalog(lake_settings(paths), spill_dir=paths.build_dir / "spill")


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


def affected(conn: duckdb.DuckDBPyConnection, statement: str, params: dict | None = None) -> int:
    """Run an INSERT or DELETE and return how many rows it wrote or removed (DuckDB returns the count): a step that
    reports a table's rows adds them up instead of counting the table again, which on the lake costs a statement's
    catalog work."""
    return conn.execute(statement, params or {}).fetchone()[0]


def reader(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the last published build, as an analyst opens it (``jushita_etl.connect``)."""
    return lake.reader(paths)
