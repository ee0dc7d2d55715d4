"""Landed batches the ingest cannot read: set aside, reported, repaired by landing their source again.

A batch file can be damaged after it was acknowledged (a bad sector, a copy cut short, an operator's slip): it is
truncated, empty, not Parquet, or lacks the landing columns. One such file must not stop every later build, and
must never be deleted: it may be the only trace of what it held. So when the ingest fails, each new batch is probed
on its own; the ones that cannot be read are

* recorded in ``etl.unreadable_batches`` with what is known of their deliveries: the rows and event dates the
  landing manifest noted, and the msg ids when that column can still be read;
* moved out of the landing zone's ``batches/`` into ``unreadable/`` next to it (a local file; an object in S3 stays
  where it is, see docs/runbook.md), so ``raw_messages`` (a view over ``batches/*.parquet``) stays readable;
* left out of every later ingest, and the rest goes on.

An operator sees them in the build's summary, ``jushita-etl status`` and the ``landed_batches_readable`` check.
Landing the same source again (a replay file, or the broker's copies after a consumer offset reset) repairs the
warehouse exactly: those deliveries are new to it. A batch whose msg ids were read is marked resolved by the
ingest once all of them are in; the others by ``jushita-etl unreadable --resolve``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from jushita_etl.warehouse import db, sql

# The columns the ingest and raw_messages read, with DuckDB's types for them (LANDING_SCHEMA, as DuckDB sees it).
LANDED_COLUMNS = {
    "mq_msg_id": "VARCHAR", "mq_topic": "VARCHAR", "tags": "VARCHAR", "keys": "VARCHAR", "queue_id": "INTEGER",
    "queue_offset": "BIGINT", "born_timestamp": "BIGINT", "reconsume_times": "INTEGER", "body": "BLOB",
    "received_at": "TIMESTAMP", "batch_id": "VARCHAR",
}
# Failures that say nothing about the file itself: the object store or the network is down. Such a batch stays new
# and the build fails, saying so, instead of setting aside good data.
TRANSIENT = ("HTTP", "Could not establish connection", "Connection", "timed out", "No space left")


@dataclass(frozen=True)
class UnreadableBatch:
    batch_id: str
    file: str
    moved_to: str | None
    rows: int | None
    event_dates: list[str]
    known_ids: int | None  # how many msg ids could be read (None: none, the file is unreadable throughout)
    error: str
    found_at: str

    def line(self) -> str:
        where = self.moved_to or self.file
        held = f"{self.rows:,} deliveries" if self.rows is not None else "deliveries unknown"
        dates = f", event dates {', '.join(self.event_dates)}" if self.event_dates else ""
        ids = (f"; {self.known_ids:,} msg ids readable" if self.known_ids is not None
               else "; no msg id readable")
        return f"unreadable batch {self.batch_id} ({held}{dates}{ids}) set aside at {where}: {self.error}"


def probe(conn: duckdb.DuckDBPyConnection, file: str, *, read_through: bool) -> str | None:
    """Why ``file`` cannot be ingested (one line), or None. Always its footer and columns (a file cut short, empty,
    not Parquet, or whose columns differ: DuckDB would read a text body of a stray file as NULLs, not fail); with
    ``read_through`` also every value the ingest decodes (a damaged page in the middle)."""
    try:
        columns = {name: kind for name, kind, *_ in conn.execute(
            "DESCRIBE SELECT * FROM read_parquet($file)", {"file": file}).fetchall()}
        wrong = [f"{name} {LANDED_COLUMNS[name]}" for name in LANDED_COLUMNS if columns.get(name) != LANDED_COLUMNS[name]]
        if wrong:
            return f"not a landed batch: lacks {', '.join(wrong)}"
        if read_through:
            conn.execute("SELECT count(mq_msg_id), count(mq_topic), sum(octet_length(body)), count(received_at), "
                         "count(born_timestamp), count(batch_id) FROM read_parquet($file)", {"file": file}).fetchall()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        if any(marker in message for marker in TRANSIENT):
            raise
        return message
    return None


def _readable_ids(conn: duckdb.DuckDBPyConnection, file: str) -> list[str] | None:
    try:
        return [row[0] for row in conn.execute("SELECT mq_msg_id FROM read_parquet($file)", {"file": file}).fetchall()]
    except duckdb.Error:
        return None


def _move_aside(file: str) -> str | None:
    """Move a local batch file into ``unreadable/`` beside its directory; its new path (None when it is gone or
    not a local file)."""
    source = Path(file)
    if "://" in file or not source.exists():
        return None
    target_dir = source.parent.parent / "unreadable"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    os.replace(source, target)
    return str(target)


def set_aside(conn: duckdb.DuckDBPyConnection, batches: dict[str, dict], *, read_through: bool = False) -> list[str]:
    """Probe each of ``batches`` (``steps.new_batches``, see ``probe``); set aside the unreadable ones. Returns
    their ids."""
    found = []
    for batch_id, entry in batches.items():
        error = probe(conn, entry["file"], read_through=read_through)
        if error is None:
            continue
        ids = _readable_ids(conn, entry["file"])
        moved_to = _move_aside(entry["file"])
        with db.transaction(conn):
            conn.execute(
                "INSERT INTO etl.unreadable_batches SELECT $batch_id, $file, $moved_to, $rows, "
                "string_split(nullif($dates, ''), ' '), CASE WHEN $has_ids THEN string_split($ids, ' ') END, "
                "$error, now()::TIMESTAMP, NULL",
                {"batch_id": batch_id, "file": entry["file"], "moved_to": moved_to, "rows": entry.get("rows"),
                 "dates": " ".join(entry.get("event_dates") or []), "has_ids": ids is not None,
                 "ids": " ".join(ids or []), "error": error})
        found.append(batch_id)
    return found


def resolve_repaired(conn: duckdb.DuckDBPyConnection) -> None:
    """Mark resolved the unreadable batches whose every known delivery has been ingested since."""
    waiting = conn.execute("SELECT count(*) FROM etl.unreadable_batches "
                           "WHERE resolved_at IS NULL AND len(mq_msg_ids) > 0").fetchone()[0]
    if waiting:  # (an update of no rows would still add a snapshot to the catalog)
        sql.run(conn, "internal/resolve_unreadable")


def unresolved(conn: duckdb.DuckDBPyConnection) -> list[UnreadableBatch]:
    """The unreadable batches that still need a person, oldest first."""
    try:
        rows = conn.execute(
            "SELECT batch_id, file, moved_to, rows, coalesce(event_dates, []), len(mq_msg_ids), error, "
            "strftime(found_at, '%Y-%m-%d %H:%M:%S') FROM etl.unreadable_batches "
            "WHERE resolved_at IS NULL ORDER BY found_at, batch_id").fetchall()
    except duckdb.CatalogException:  # a catalog from before this table: nothing was set aside there
        return []
    return [UnreadableBatch(*row) for row in rows]


def resolve(conn: duckdb.DuckDBPyConnection, batch_id: str) -> bool:
    """An operator's word that the batch's deliveries were landed again (or are given up): no longer a problem.
    The file stays where it was set aside. Returns whether such an open batch existed."""
    with db.transaction(conn):
        found = conn.execute("SELECT count(*) FROM etl.unreadable_batches WHERE batch_id = $id AND resolved_at IS NULL",
                             {"id": batch_id}).fetchone()[0]
        conn.execute("UPDATE etl.unreadable_batches SET resolved_at = now()::TIMESTAMP "
                     "WHERE batch_id = $id AND resolved_at IS NULL", {"id": batch_id})
    return bool(found)
