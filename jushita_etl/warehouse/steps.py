"""The three steps of a build, on the writer connection:

1. ``ingest``: parse each new delivery of newly landed batches once into ``parsed.deliveries`` (``raw_messages`` is a
   view over the ingested batches), add the bad ones to ``quarantine``, and note which event dates they touch (two
   transactions: the parsed deliveries have a database of their own);
2. ``refresh_events``: replace the rows of every event table for a window of event dates (a transaction per table);
3. ``refold_fact``: refold the facts of the keys those windows touched (or all of them).

The SQL is in ``sql/``; this module only sequences it. Table and column names used here come from the fixed
registries below, never from input; values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import duckdb

from jushita_etl.landing.manifest import read_manifest
from jushita_etl.warehouse import db, sql

T = TypeVar("T")

MIN_DATE = date(1, 1, 1)
MAX_DATE = date(9999, 12, 31)


@dataclass(frozen=True)
class EventTable:
    name: str
    domain: str
    # key columns that identify the fact rows an event touches (None: no fact table folds this domain)
    dirty_key: str | None
    dirty_key2: str = "NULL"


# Usually smallest first: refresh_events rebuilds the tables in this order while its caller records the ones
# already rebuilt, so recording the small ones overlaps rebuilding the large ones (see there).
EVENT_TABLES = [
    EventTable("item_events", "item", "num_iid"),
    EventTable("rating_events", "rating", "message_id"),
    EventTable("fenxiao_events", "fenxiao", None),
    EventTable("refund_events", "refund", "refund_id"),
    EventTable("trade_events", "trade", "tid"),
    EventTable("logistics_events", "logistics", "tid", "coalesce(out_sid, '')"),
]


@dataclass(frozen=True)
class FactTable:
    name: str
    domain: str  # which etl.dirty_keys rows it consumes
    key_match: str  # how a fact row matches a dirty key row k


FACT_TABLES = [
    FactTable("fact_refunds", "refund", "refund_id = k.key"),
    FactTable("fact_orders", "trade", "tid = k.key"),
    FactTable("dim_items", "item", "num_iid = k.key"),
    FactTable("fact_shipments", "logistics", "tid = k.key AND out_sid = k.key2"),
    FactTable("fact_rating_impressions", "rating", "message_id = k.key"),
]


@dataclass
class IngestResult:
    """What was ingested since raw_messages last reported: batches, landed rows, new distinct deliveries, how many
    of those were quarantined, and the event dates still to rebuild."""

    batches: int
    rows: int
    new_deliveries: int
    quarantined: int
    affected_dates: list[date]


def new_batches(conn: duckdb.DuckDBPyConnection, landing: Path) -> dict[str, dict]:
    """Manifest entries (by batch id) of landed batches the warehouse has not ingested yet."""
    known = {row[0] for row in conn.execute("SELECT batch_id FROM etl.ingested_batches").fetchall()}
    return {entry["batch_id"]: entry for entry in read_manifest(landing)[0]
            if entry["batch_id"] not in known and (landing / entry["file"]).exists()}


def any_new_deliveries(conn: duckdb.DuckDBPyConnection, landing: Path, new: dict[str, dict]) -> bool:
    """Whether the batches not yet ingested (``new``, from new_batches) hold a delivery (mq_msg_id) the warehouse
    has not seen: cheap next to the parse (it reads one narrow column, and nothing at all while the warehouse is
    empty)."""
    if not new:
        return False
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM parsed.deliveries)").fetchone()[0]:
        return any(entry["rows"] for entry in new.values())
    files = [str(landing / entry["file"]) for entry in new.values()]
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM read_parquet($files) "
        "WHERE mq_msg_id NOT IN (SELECT mq_msg_id FROM parsed.deliveries))", {"files": files}).fetchone()[0]


def ingest(conn: duckdb.DuckDBPyConnection, landing: Path, new: dict[str, dict] | None = None) -> int:
    """Bring every landed batch not yet ingested into the warehouse (idempotent). Returns how many batches it took;
    ``report_ingested`` tells what they held. ``new``: new_batches(conn, landing), when the caller has it."""
    new = new_batches(conn, landing) if new is None else new
    if not new:
        return 0
    try:
        _ingest_batches(conn, landing, new, validate_json=False)
    except duckdb.InvalidInputException:
        # an object-shaped body or content that is malformed JSON after all (or another input error): the
        # transaction is rolled back, and the parse runs again checking every object before reading it, which
        # quarantines such input instead of failing on it (see envelopes in sql/internal/parse_deliveries.sql)
        _ingest_batches(conn, landing, new, validate_json=True)
    return len(new)


def _ingest_batches(conn: duckdb.DuckDBPyConnection, landing: Path, new: dict[str, dict], *,
                    validate_json: bool) -> None:
    """Two transactions, as a DuckDB transaction writes one database only: the parse, into the parsed deliveries'
    database; then, in the build database, what follows from the batches' parsed deliveries (quarantine, pending
    dates) and the batches marked ingested. If the second fails, the batches are still new to the next ingest,
    whose parse skips the deliveries it has already (by mq_msg_id) and whose second transaction derives the same
    rows from them: nothing is lost or doubled."""
    files = [str(landing / entry["file"]) for entry in new.values()]
    batch_ids = list(new)
    with db.transaction(conn):
        sql.run(conn, "internal/parse_deliveries", {"files": files, "validate_json": validate_json})
    with db.transaction(conn):
        sql.run(conn, "internal/quarantine_deliveries", {"batch_ids": batch_ids})
        # The few bodies that are not valid UTF-8 are decoded here, each invalid sequence replaced by U+FFFD as
        # Python's "replace" does, and inserted as parameters: a Python function in SQL would import numpy (0.06 s,
        # and OpenBLAS threads that spin beside the build).
        invalid = conn.execute("SELECT mq_msg_id, body FROM parsed.deliveries WHERE reason IS NOT NULL "
                               "AND batch_id IN (SELECT unnest($batch_ids)) AND NOT is_utf8(body)",
                               {"batch_ids": batch_ids}).fetchall()
        if invalid:
            conn.execute(sql.load("internal/quarantine_invalid_utf8"), {
                "batch_ids": batch_ids, "mq_msg_ids": [mq_msg_id for mq_msg_id, _ in invalid],
                "bodies": [body.decode("utf-8", "replace") for _, body in invalid]})
        conn.execute(sql.load("internal/pending_dates"), {"batch_ids": batch_ids})
        conn.executemany(
            "INSERT INTO etl.ingested_batches (batch_id, file, rows, ingested_at) VALUES (?, ?, ?, now()::TIMESTAMP)",
            [[batch_id, entry["file"], entry["rows"]] for batch_id, entry in new.items()],
        )
        publish_raw_view(conn, landing)


def report_ingested(conn: duckdb.DuckDBPyConnection) -> IngestResult:
    """What was ingested since the last call (by any step, or by ``jushita-etl build`` before its run), now marked
    reported: the numbers a raw_messages materialization records."""
    with db.transaction(conn):
        batches, rows, deliveries, quarantined = conn.execute(sql.load("internal/unreported_ingest")).fetchone()
        conn.execute("UPDATE etl.ingested_batches SET reported_at = now()::TIMESTAMP WHERE reported_at IS NULL")
    return IngestResult(batches, rows, deliveries, quarantined, pending_dates(conn))


def publish_raw_view(conn: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """``raw_messages``: a view over the landed Parquet batches already ingested (contract §5 allows a view).

    DDL takes no bound parameters, so the landing path is written as a properly escaped SQL string literal.
    Readers see exactly the batches of their snapshot, even while new files land.
    """
    pattern = sql.literal(str(landing.resolve() / "batches" / "*.parquet"))
    conn.execute(
        "CREATE OR REPLACE VIEW raw_messages AS SELECT mq_msg_id, mq_topic, tags, keys, queue_id, queue_offset, "
        f"born_timestamp, reconsume_times, body, received_at, batch_id FROM read_parquet({pattern}) "
        "WHERE batch_id IN (SELECT batch_id FROM etl.ingested_batches)"
    )


def pending_dates(conn: duckdb.DuckDBPyConnection) -> list[date]:
    return [row[0] for row in conn.execute("SELECT event_date FROM etl.pending_dates ORDER BY 1").fetchall()]


_WINDOW = "event_date >= $date_from AND event_date < $date_to"


def refresh_events(conn: duckdb.DuckDBPyConnection, date_from: date, date_to: date,
                   then: Callable[[duckdb.DuckDBPyConnection, EventTable], T] | None = None,
                   ) -> Iterator[tuple[EventTable, dict[date, int], T | None]]:
    """Replace every event table's rows with event_date in [date_from, date_to), one transaction per table.

    The keys of the rows removed and of the rows written are recorded in ``etl.dirty_keys`` (in the same
    transaction) so the facts refold exactly those keys. Yields each table with its rows per event date (dates
    without rows left out), and what ``then(conn, table)`` returned (a query on the table just committed, run by the
    same worker), as soon as its window is committed, while the tables after it are rebuilt on a worker thread:
    DuckDB releases the GIL, so what the caller does with a table (Dagster records one materialization per
    partition) overlaps the SQL of the next ones. The window's pending dates are cleared once every table is
    rebuilt; a failure in between leaves them pending, and rebuilding a window again is idempotent.
    """
    params = {"date_from": date_from, "date_to": date_to}
    sql.run(conn, "internal/window_events", params)
    try:
        # One worker rebuilds the tables one after another, without waiting for the caller, so the caller's work on
        # each finished table overlaps every rebuild still to come (the small tables come first for that). The
        # connection is used by one thread at a time: the worker until the last result, this thread after it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-window") as pool:
            def rebuild(table: EventTable) -> tuple[dict[date, int], T | None]:
                by_date = _refresh_event_table(conn, table, params)
                return by_date, then(conn, table) if then else None

            rebuilding = [pool.submit(rebuild, table) for table in EVENT_TABLES]
            try:
                for table, rebuilt in zip(EVENT_TABLES, rebuilding):
                    yield table, *rebuilt.result()
            finally:  # failed or abandoned: the tables not started yet are not rebuilt
                for rebuilt in rebuilding:
                    rebuilt.cancel()
        conn.execute(f"DELETE FROM etl.pending_dates WHERE {_WINDOW}", params)
    finally:
        conn.execute("DROP TABLE IF EXISTS window_losers")


def _refresh_event_table(conn: duckdb.DuckDBPyConnection, table: EventTable, params: dict) -> dict[date, int]:
    """One event table's window replaced from window_events (sql/internal/window_events.sql), in one transaction."""
    mark_dirty = (  # each key once: a tid has several events, and the facts read and delete these rows
        f"INSERT INTO etl.dirty_keys SELECT DISTINCT '{table.domain}', {table.dirty_key}, {table.dirty_key2} "
        f"FROM {table.name} WHERE {_WINDOW}"
    )
    with db.transaction(conn):
        if table.dirty_key:
            conn.execute(mark_dirty, params)
        conn.execute(f"DELETE FROM {table.name} WHERE {_WINDOW}", params)
        conn.execute(f"INSERT INTO {table.name} BY NAME {sql.load(table.name)}", params)
        if table.dirty_key:
            conn.execute(mark_dirty, params)
        return dict(conn.execute(
            f"SELECT event_date, count(*) FROM {table.name} WHERE {_WINDOW} GROUP BY 1", params).fetchall())


def refold_fact(conn: duckdb.DuckDBPyConnection, fact: FactTable, *, full: bool = False) -> int:
    """Refold one fact table for its dirty keys (or entirely), in one transaction. Returns rows written."""
    params = {"full": full}
    with db.transaction(conn):
        conn.execute(f"CREATE OR REPLACE TEMP TABLE folded AS {sql.load(fact.name)}", params)
        if fact.name == "fact_refunds":
            # A refund's state feeds fact_orders.refunded_amount: refold the orders it pointed at before and after.
            conn.execute(
                "INSERT INTO etl.dirty_keys SELECT 'trade', tid, NULL FROM fact_refunds WHERE tid IS NOT NULL "
                "AND ($full OR refund_id IN (SELECT key FROM etl.dirty_keys WHERE domain = 'refund'))", params)
            conn.execute("INSERT INTO etl.dirty_keys SELECT 'trade', tid, NULL FROM folded WHERE tid IS NOT NULL")
        if full:
            conn.execute(f"DELETE FROM {fact.name}")
        else:
            conn.execute(
                f"DELETE FROM {fact.name} WHERE EXISTS (SELECT 1 FROM etl.dirty_keys AS k "
                f"WHERE k.domain = '{fact.domain}' AND {fact.key_match})"
            )
        conn.execute(f"INSERT INTO {fact.name} BY NAME SELECT * FROM folded")
        written = conn.execute("SELECT count(*) FROM folded").fetchone()[0]
        conn.execute("DELETE FROM etl.dirty_keys WHERE domain = $domain", {"domain": fact.domain})
        conn.execute("DROP TABLE folded")
    return written


@dataclass
class Reconciliation:
    deliveries: int
    events: int
    duplicates: int
    quarantined: int
    unmodelled: int

    @property
    def holds(self) -> bool:
        return self.deliveries == self.events + self.duplicates + self.quarantined + self.unmodelled

    def line(self) -> str:
        verdict = "holds" if self.holds else "DOES NOT HOLD"
        return (f"reconciliation {verdict}: {self.deliveries:,} deliveries = {self.events:,} event rows + "
                f"{self.duplicates:,} duplicates + {self.quarantined:,} quarantined + {self.unmodelled:,} unmodelled")


def reconcile(conn: duckdb.DuckDBPyConnection) -> Reconciliation:
    """The invariant of contract §5, counted over distinct mq_msg_ids."""
    row = conn.execute(sql.load("internal/reconciliation")).fetchone()
    return Reconciliation(*row)
