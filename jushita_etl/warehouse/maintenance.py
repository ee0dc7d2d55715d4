"""Lakehouse upkeep: frequent micro-batches leave many small data files and many snapshots. Run on the writer
connection (one writer at a time), it rewrites the data files whose rows the refolds have partly deleted, merges
adjacent small files, publishes the compacted state, thins the snapshots to the time travel kept, and deletes the
files no snapshot needs any more.

Every build refolds facts, deleting their old rows from the files earlier builds wrote (DuckLake marks them in
delete files), and DuckLake merges no file that has deletes: after 200 micro-batches the merge alone left 397 live
files, 200 of them fact_orders'. Rewriting the files at least REWRITE_DELETED_SHARE deleted first (their live rows
into new files, which the merge then joins) left 24; a share of 0.5 left 106, and 0 (any delete) 13, but would
rewrite a large fact file every pass for a handful of refolded keys.

The time travel kept: every snapshot of the last FINE_WINDOW (each build of the last hour), and beyond it, up to the
retention (7 days by default: ``JUSHITA_LAKE_RETENTION_DAYS``), the state each pass published after compacting: one
build's state per pass, hourly on the schedule. Why not every snapshot for 7 days: a snapshot keeps the catalog rows
of every file it can see, and DuckDB reads the SQLite catalog by scanning its tables whole (no filter reaches
SQLite), so every statement of every build pays for every file row kept. Builds every few seconds keeping a week of
snapshots made each build slower by the hour; the passes' states see few files each (the merged ones), so the catalog
grows with the passes kept, not with the builds.

The published snapshot is never expired, however old (an idle warehouse still has one state to read), nor one
that was the published one less than FINE_WINDOW ago, whatever the retention (readers may still be on it). A reader
pinned to a snapshot that was expired gets DuckLake's error (``No snapshot found at version N``), never wrong rows;
it reconnects to read the current build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from jushita_etl import settings
from jushita_etl.warehouse import lake, sql

DEFAULT_RETENTION_DAYS = 7.0
REWRITE_DELETED_SHARE = 0.2
FINE_WINDOW = timedelta(hours=1)  # every snapshot younger than this is kept
PASS_MESSAGE = "maintenance"  # the commit message of a pass's publish (DuckLake keeps it with the snapshot)
RETENTION_SETTING = "JUSHITA_LAKE_RETENTION_DAYS"


def retention() -> timedelta:
    """$JUSHITA_LAKE_RETENTION_DAYS as a duration (days, fractions allowed; default 7)."""
    return settings.retention(RETENTION_SETTING, DEFAULT_RETENTION_DAYS)


@dataclass
class MaintenanceReport:
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int
    expired_before: datetime | None
    seconds: float


def counts(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(live data files, snapshots) of the lake, from its catalog."""
    metadata = f"__ducklake_metadata_{lake.ALIAS}"
    files = conn.execute(f"SELECT count(*) FROM {metadata}.ducklake_data_file WHERE end_snapshot IS NULL").fetchone()[0]
    snapshots = conn.execute(f"SELECT count(*) FROM {metadata}.ducklake_snapshot").fetchone()[0]
    return files, snapshots


def maintain(conn: duckdb.DuckDBPyConnection, keep: timedelta | None = None, fine: timedelta = FINE_WINDOW
             ) -> MaintenanceReport:
    """Rewrite, merge, publish, thin and clean up (see the module docstring). ``keep``: the retention (the
    setting's by default); ``fine``: how far back every snapshot is kept. Each call commits on its own."""
    started = time.perf_counter()
    files_before, snapshots_before = counts(conn)
    keep = retention() if keep is None else keep
    # a build that failed before publishing left commits no reader may see: then the pass publishes nothing
    published_last = not lake.unpublished(conn)
    conn.execute(f"CALL ducklake_rewrite_data_files('{lake.ALIAS}', delete_threshold => {REWRITE_DELETED_SHARE})")
    conn.execute(f"CALL ducklake_merge_adjacent_files('{lake.ALIAS}')")
    # the same rows as the last build's, in the merged files: readers move to them
    published = lake.publish(conn, message=PASS_MESSAGE) if published_last else lake.published_snapshot(conn)
    ids, cutoff = conn.execute(sql.load("internal/expired_snapshots"), {
        "alias": lake.ALIAS, "keep": keep, "fine": fine, "message": PASS_MESSAGE, "published": published}).fetchone()
    if ids:
        conn.execute(f"CALL ducklake_expire_snapshots('{lake.ALIAS}', versions => $ids)", {"ids": ids})
    conn.execute(f"CALL ducklake_cleanup_old_files('{lake.ALIAS}', cleanup_all => true)")
    files_after, snapshots_after = counts(conn)
    return MaintenanceReport(files_before, files_after, snapshots_before, snapshots_after, cutoff,
                             time.perf_counter() - started)
