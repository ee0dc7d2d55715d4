"""Lakehouse upkeep: frequent micro-batches leave many small data files and many snapshots. Run on the writer
connection (one writer at a time), it rewrites the data files whose rows the refolds have partly deleted, merges
adjacent small files, expires the snapshots older than the retention (the time travel kept, 7 days by default:
``JUSHITA_LAKE_RETENTION_DAYS``) and deletes the files no snapshot needs any more.

Every build refolds facts, deleting their old rows from the files earlier builds wrote (DuckLake marks them in
delete files), and DuckLake merges no file that has deletes: after 200 micro-batches the merge alone left 397 live
files, 200 of them fact_orders'. Rewriting the files at least REWRITE_DELETED_SHARE deleted first (their live rows
into new files, which the merge then joins) left 24; a share of 0.5 left 106, and 0 (any delete) 13, but would
rewrite a large fact file every pass for a handful of refolded keys.

The published snapshot is never expired, however old (an idle warehouse still has one state to read): only the snapshots
before it and older than the retention are expired. A reader pinned to a snapshot that was expired gets DuckLake's
error (``No snapshot found at version N``), never wrong rows; it reconnects to read the current build.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from jushita_etl.warehouse import lake

DEFAULT_RETENTION_DAYS = 7.0
REWRITE_DELETED_SHARE = 0.2


def retention() -> timedelta:
    return timedelta(days=float(os.environ.get("JUSHITA_LAKE_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS))


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


def maintain(conn: duckdb.DuckDBPyConnection, keep: timedelta | None = None) -> MaintenanceReport:
    """Rewrite, merge, expire and clean up (see the module docstring). Each call commits on its own."""
    started = time.perf_counter()
    files_before, snapshots_before = counts(conn)
    keep = retention() if keep is None else keep
    conn.execute(f"CALL ducklake_rewrite_data_files('{lake.ALIAS}', delete_threshold => {REWRITE_DELETED_SHARE})")
    conn.execute(f"CALL ducklake_merge_adjacent_files('{lake.ALIAS}')")
    published = lake.published_snapshot(conn)
    expiring = conn.execute(
        f"SELECT list(snapshot_id ORDER BY snapshot_id), max(snapshot_time)::TIMESTAMP FROM {lake.ALIAS}.snapshots() "
        "WHERE snapshot_id < coalesce($published, 0) AND snapshot_time < now() - $keep",
        {"keep": keep, "published": published}).fetchone()
    ids, cutoff = expiring
    if ids:
        conn.execute(f"CALL ducklake_expire_snapshots('{lake.ALIAS}', versions => $ids)", {"ids": ids})
    conn.execute(f"CALL ducklake_cleanup_old_files('{lake.ALIAS}', cleanup_all => true)")
    files_after, snapshots_after = counts(conn)
    return MaintenanceReport(files_before, files_after, snapshots_before, snapshots_after, cutoff,
                             time.perf_counter() - started)
