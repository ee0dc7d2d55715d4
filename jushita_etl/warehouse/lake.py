"""The lakehouse: every table of the warehouse in one DuckLake catalog (DuckLake: Parquet data files plus a SQL
catalog of snapshots). By default the catalog is a SQLite file and the data a directory under ``<data>/lake/``;
``JUSHITA_CATALOG`` and ``JUSHITA_LAKE_PATH`` move them to PostgreSQL and S3-compatible storage (settings.lake).

Connections come from ``extensions.connection``: DuckDB with the pinned wheels' extension files loaded.

**What analysts see.** A build commits many snapshots (one per step); the last step records the snapshot it ends
at in ``etl.published`` (``publish``). ``reader`` attaches the catalog at that snapshot, so an analyst always sees
all tables of one finished build, never events of a new build with the facts of the old one, and the writer never
waits for a reader (SQLite's WAL journal, or PostgreSQL's MVCC, keeps the catalog readable while it commits).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
from functools import cache
from pathlib import Path

import duckdb

from jushita_etl.settings import LakeSettings, Paths, lake, redact
from jushita_etl.warehouse import sql
from jushita_etl.warehouse.extensions import LakeUnavailable, connection

ALIAS = "lake"


class NoWarehouseYet(RuntimeError):
    pass


def _prepare_sqlite_catalog(settings: LakeSettings) -> None:
    """A new SQLite catalog starts in WAL journal mode (kept by the file), so a reader never blocks the writer."""
    path = settings.sqlite_file
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as catalog:
        catalog.execute("PRAGMA journal_mode=WAL")


def _readable_catalog(settings: LakeSettings) -> str:
    """The catalog a read-only attach opens. SQLite opens a WAL-mode file only where it can create the ``-shm``
    file beside it, or finds it there: in a directory this process cannot write (a read-only mount for analysts)
    with no ``-shm`` and no ``-wal`` (the last writer to close checkpointed the log into the file and removed
    them), a reader attaches a private copy of the catalog file instead; the data files are read where they are."""
    path = settings.sqlite_file
    if path is None or os.access(path.parent, os.W_OK) or any(Path(f"{path}{end}").exists() for end in ("-shm", "-wal")):
        return settings.catalog
    stat = path.stat()
    return f"sqlite:{_private_copy(path, stat.st_mtime_ns, stat.st_size)}"


@cache
def _private_copy(path: Path, mtime_ns: int, size: int) -> Path:
    """A copy of the catalog file at ``path`` as it is at (mtime, size), one per version, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="jushita-catalog-"))
    atexit.register(shutil.rmtree, folder, True)
    shutil.copyfile(path, folder / path.name)
    return folder / path.name


def attach(conn: duckdb.DuckDBPyConnection, settings: LakeSettings, *, read_only: bool = False,
           snapshot: int | None = None, alias: str = ALIAS) -> None:
    """Attach the catalog as ``alias`` (at a snapshot, read-only, when given). One clear line when it fails."""
    if not settings.on_s3:
        Path(settings.data_path).mkdir(parents=True, exist_ok=True)
    if not read_only:
        _prepare_sqlite_catalog(settings)
    elif settings.sqlite_file is not None and not settings.sqlite_file.exists():
        raise NoWarehouseYet("no warehouse yet; run `jushita-etl build` first")
    options = [f"DATA_PATH {sql.literal(settings.data_path)}"]
    if settings.catalog_kind == "sqlite":
        # the embedded lake moves with its data directory (the catalog stores the path it was created with); a shared
        # catalog keeps its own, and a node configured with another path gets DuckLake's error naming both
        options.append("OVERRIDE_DATA_PATH true")
    if read_only:
        options.append("READ_ONLY")
    if snapshot is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    catalog = _readable_catalog(settings) if read_only else settings.catalog
    try:  # ATTACH takes no bound parameters: the strings are escaped literals
        conn.execute(f"ATTACH {sql.literal('ducklake:' + catalog)} AS {alias} ({', '.join(options)})")
    except duckdb.Error as exc:
        first = redact(str(exc).strip().splitlines()[0])
        if read_only and "does not exist - and creating a new DuckLake" in first:
            # a catalog the first build is creating right now (the SQLite file exists, DuckLake's tables not yet)
            raise NoWarehouseYet("no warehouse yet; run `jushita-etl build` first") from None
        raise LakeUnavailable(f"cannot open the lakehouse ({settings.describe()}; JUSHITA_CATALOG / "
                              f"JUSHITA_LAKE_PATH): {first}") from None


def current_snapshot(conn: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> int:
    return conn.execute(f"SELECT id FROM {alias}.current_snapshot()").fetchone()[0]


def publish(conn: duckdb.DuckDBPyConnection, *, message: str | None = None) -> int:
    """Make the state the writer has committed so far the one analysts read: records its snapshot in
    ``etl.published``, and its reconciliation (sql/internal/reconciliation.sql, counted in the same transaction) in
    ``etl.reconciliations``. Returns that snapshot. ``message``: the publish commit's commit message in DuckLake
    (maintenance marks the states it keeps with it).

    First, in a commit of its own (DuckLake commits a compaction alone), the files of ``etl.dirty_keys`` whose
    rows the build's refolds deleted are rewritten without them: DuckLake marks deleted rows in delete files and
    drops a data file only once all of its rows are gone, which the consumers' per-domain deletes did not always
    reach. Left there, every later build's refolds read them again (1.25M dead keys, left by a 5M history built in
    chunks, made a day's refolds and scenario refreshes 2.3 s slower). Nothing to rewrite: no commit, 10 ms."""
    conn.execute(f"CALL ducklake_rewrite_data_files({sql.literal(ALIAS)}, 'dirty_keys', schema => 'etl')")
    conn.execute("BEGIN TRANSACTION")
    try:
        _give_statistics(conn)  # first: a table this transaction writes must not look unwritten to it
        if message:
            conn.execute("CALL ducklake_set_commit_message($alias, 'jushita-etl', $message)",
                         {"alias": ALIAS, "message": message})
        snapshot = current_snapshot(conn)
        conn.execute("INSERT INTO etl.published VALUES ($snapshot, now()::TIMESTAMP)", {"snapshot": snapshot})
        conn.execute(f"INSERT INTO etl.reconciliations SELECT $snapshot, * FROM (\n{sql.load('internal/reconciliation')}\n)",
                     {"snapshot": snapshot})
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return snapshot


def _give_statistics(conn: duckdb.DuckDBPyConnection) -> None:
    """Give each table that was never written its statistics in the catalog, by inserting a row and deleting it (the
    same empty table), in the publish's transaction. DuckLake looks a table without statistics up column by column
    in every statement that reads it (4-5 ms a column): etl.unreadable_batches, which every build reads five times
    and which stays empty unless a batch cannot be read, cost 45-60 ms a read, 8-14 ms with statistics. A table
    with any write has them, so after a lake's first build this finds none (one lookup in the catalog, 5 ms); at
    the first publish only the tables that build left unwritten need it (on a new catalog's 28 tables, before any
    was written, it took 0.3 s). Run before the transaction writes anything: the catalog lists what was committed,
    and a table written earlier in the same transaction would have its rows deleted with the placeholder."""
    metadata = f"__ducklake_metadata_{ALIAS}"
    unwritten = conn.execute(
        f"SELECT s.schema_name, t.table_name FROM {metadata}.ducklake_table AS t "
        f"JOIN {metadata}.ducklake_schema AS s ON s.schema_id = t.schema_id AND s.end_snapshot IS NULL "
        f"WHERE t.end_snapshot IS NULL AND t.table_id NOT IN (SELECT table_id FROM {metadata}.ducklake_table_stats)"
    ).fetchall()
    for schema, table in unwritten:  # never written: nothing to delete but the row just inserted
        conn.execute(f'INSERT INTO "{schema}"."{table}" DEFAULT VALUES')
        conn.execute(f'DELETE FROM "{schema}"."{table}"')


def published_snapshot(conn: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> int | None:
    """The last published snapshot (None before the first build published one)."""
    try:
        return conn.execute(f"SELECT max(snapshot_id) FROM {alias}.etl.published").fetchone()[0]
    except duckdb.CatalogException:  # a catalog no build has prepared yet
        return None


def unpublished(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the writer's catalog has commits after the last publish (whose own commit is the one snapshot after
    the published one): a build that failed before publishing, or one that never published."""
    published = published_snapshot(conn)
    return current_snapshot(conn) > (published + 1 if published is not None else 0)


def open_catalog(settings: LakeSettings, *, read_only: bool = False, spill_dir: Path | None = None
                 ) -> duckdb.DuckDBPyConnection:
    """A connection of the pipeline's own (``connection(internal=True)``) with the catalog's newest state attached
    as ``lake`` and made the default catalog."""
    conn = connection(settings, spill_dir, internal=True)
    try:
        attach(conn, settings, read_only=read_only)
        conn.execute(f"USE {ALIAS}")
    except BaseException:
        conn.close()
        raise
    return conn


def latest_reader(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog's newest committed state (not what analysts read): for planning."""
    return open_catalog(lake(paths), read_only=True)


def reader(paths: Paths, settings: LakeSettings | None = None, *, internal: bool = False) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the last published build, every table visible unqualified (``USE lake``).
    ``internal``: for the pipeline's own queries (see ``connection``)."""
    settings = settings or lake(paths)
    conn = connection(settings, internal=internal)
    try:
        attach(conn, settings, read_only=True, alias="lake_latest")
        snapshot = published_snapshot(conn, "lake_latest")
        conn.execute("DETACH lake_latest")
        if snapshot is None:
            raise NoWarehouseYet("no warehouse yet; run `jushita-etl build` first")
        attach(conn, settings, read_only=True, snapshot=snapshot)
        conn.execute(f"USE {ALIAS}")
    except BaseException:
        conn.close()
        raise
    return conn
