"""The steps of a build, on the writer connection:

1. ``ingest``: parse each new delivery of newly landed batches once, record it in ``etl.deliveries``, add the bad
   ones to ``quarantine``, append the new canonical copies of platform messages to their event tables and note the
   keys whose facts change in ``etl.dirty_keys`` (one transaction; ``raw_messages`` is a view over the ingested
   batches);
2. ``report_events``: the event dates each event table's rows changed in, with their row counts, for the event
   step's materializations;
3. ``refold_fact``: refold the facts of the dirty keys (or all of them).

Every step costs what is new, not what is there: lookups of existing rows are by the new keys only. The SQL is in
``sql/``; this module only sequences it. Table and column names used here come from the registries below, built
from ``sql/tables.yml`` (``tables.py``), never from input; values are always bound parameters.

Long because: it is the build's whole sequence (the registries, then each step and the reconciliation), each step a
few statements over the same ``etl`` tables; split, one step's transaction would be read across modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from jushita_etl.settings import Paths, lake
from jushita_etl.warehouse import db, landed, sql, tables, unreadable


@dataclass(frozen=True)
class EventTable:
    name: str
    domain: str
    # what the rows of this table mark dirty when they change: consumer -> (key, key2) column expressions; the
    # consumers are the domains of the facts folded from it and the incremental scenario tables (scenarios.py)
    dirty: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class FactTable:
    name: str
    domain: str  # which etl.dirty_keys rows it consumes
    refold_by: tuple[str, ...]  # the fact's columns that dirty keys (key, key2) name
    key: tuple[str, ...]  # the columns that identify a row (its unique-key check); () when rows have no key

    @property
    def dirty(self) -> str:
        """The fact's rows whose key is among its dirty keys ($domain), as a filter: an IN, which DuckDB runs as a
        hash semi join (a correlated EXISTS took twice as long on 400k rows)."""
        if len(self.refold_by) == 1:
            return f"{self.refold_by[0]} IN (SELECT key FROM etl.dirty_keys WHERE domain = $domain)"
        return f"({', '.join(self.refold_by)}) IN (SELECT (key, key2) FROM etl.dirty_keys WHERE domain = $domain)"


FACT_TABLES = [FactTable(t.name, t.domain, t.refold_by, t.key) for t in tables.of_kind("facts")]

# The event table's expression for a dirty-key column where it is not the column itself: a shipment's out_sid is ''
# where the traces carry none (contract §4.4).
_DIRTY_EXPRESSIONS = {("logistics_events", "out_sid"): "coalesce(out_sid, '')"}
# The incremental scenario tables (warehouse/scenarios.py) each event table's rows mark dirty, by which column.
_SCENARIO_CONSUMERS = {
    "item_events": {"item_history": "num_iid"},
    "rating_events": {"rating_keywords": "message_id"},
    "fenxiao_events": {"distributor_daily": "message_id"},
}


def _event_table(table: tables.Table) -> EventTable:
    dirty = {}
    for fact in FACT_TABLES:  # the facts folded from this table's domain, by their refold columns
        if fact.domain == table.domain:
            key, *key2 = [_DIRTY_EXPRESSIONS.get((table.name, c), c) for c in fact.refold_by]
            dirty[fact.domain] = (key, key2[0] if key2 else "NULL")
    for consumer, column in _SCENARIO_CONSUMERS.get(table.name, {}).items():
        dirty[consumer] = (column, "NULL")
    return EventTable(table.name, table.domain, dirty)


EVENT_TABLES = [_event_table(t) for t in tables.of_kind("events")]


@dataclass
class IngestResult:
    """What was ingested since raw_messages last reported: batches, landed rows, new distinct deliveries, how many
    of those were quarantined, and the event dates whose rows changed (not yet reported by the event step)."""

    batches: int
    rows: int
    new_deliveries: int
    quarantined: int
    affected_dates: list[date]


def new_batches(conn: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """The batches the catalog lists (``etl.landed_batches``, see landed.py) that the warehouse has not ingested
    yet, by batch id: their file (path or URI), rows and event-date hints."""
    query = ("SELECT batch_id, file, rows, event_dates FROM etl.landed_batches "
             "WHERE batch_id NOT IN (SELECT batch_id FROM etl.ingested_batches) {} ORDER BY batch_id")
    try:
        rows = conn.execute(query.format(
            "AND batch_id NOT IN (SELECT batch_id FROM etl.unreadable_batches)")).fetchall()
    except duckdb.CatalogException:  # read-only, on a catalog no writer of this version has prepared yet
        rows = conn.execute(query.format("")).fetchall()
    return {batch_id: {"file": file, "rows": n, "event_dates": dates or []} for batch_id, file, n, dates in rows}


def ingest(conn: duckdb.DuckDBPyConnection, paths: Paths) -> int:
    """Ship this data directory's landed batches to the catalog (landed.ship), then bring every batch the catalog
    lists and the warehouse has not ingested into it (idempotent). Returns how many batches it took;
    ``report_ingested`` tells what they held."""
    settings = lake(paths)
    landed.ship(conn, paths, settings)
    new = new_batches(conn)
    # a batch file cut short, empty, not Parquet or with other columns is set aside (unreadable.py), the rest goes on
    for batch_id in unreadable.set_aside(conn, new):
        del new[batch_id]
    taken = 0
    for chunk in _chunks(new):
        try:
            _ingest_batches(conn, chunk, validate_json=False)
        except duckdb.Error:
            # The transaction is rolled back. Either a file is damaged inside (read through, it is set aside), or an
            # object-shaped body or content is malformed JSON after all: the parse runs again checking every object
            # before reading it, which quarantines such input instead of failing on it (see envelopes in
            # sql/internal/parse_deliveries.sql). Anything else fails again.
            for batch_id in unreadable.set_aside(conn, chunk, read_through=True):
                del chunk[batch_id]
            if chunk:
                _ingest_batches(conn, chunk, validate_json=True)
        taken += len(chunk)
    unreadable.resolve_repaired(conn)
    if taken:
        db.ensure_raw_view(conn, settings.batch_location(paths))
    return taken


INGEST_CHUNK_ROWS = 1_000_000
"""Landed rows per ingest transaction, at most (a single batch may hold more): the parse holds every new delivery
and its content in memory, so a rebuild of months of history is ingested in transactions of bounded size, each
deduplicating against the ones before it as any later landing does."""


def _chunks(new: dict[str, dict]) -> list[dict[str, dict]]:
    """The new batches (in batch id order, which is landing order) in groups of at most INGEST_CHUNK_ROWS rows."""
    chunks: list[dict[str, dict]] = [{}]
    rows = 0
    for batch_id, entry in new.items():
        if chunks[-1] and rows + entry["rows"] > INGEST_CHUNK_ROWS:
            chunks.append({})
            rows = 0
        chunks[-1][batch_id] = entry
        rows += entry["rows"]
    return [chunk for chunk in chunks if chunk]


_DELIVERY_COLUMNS = ("mq_msg_id, batch_id, row_in_file, received_at, born_timestamp, reason, message_id, domain, "
                     "event_date, hash(mq_msg_id)")


def _ingest_batches(conn: duckdb.DuckDBPyConnection, new: dict[str, dict], *, validate_json: bool) -> None:
    """The parse (into the temporary new_deliveries), the new canonical copies (new_canonical) and each event
    table's new rows (new_<table>; not on the very first ingest, which writes them straight from the models), then
    one transaction: the new rows appended to the event tables, the deliveries recorded, the quarantine rows and the
    batches marked ingested. Failing anywhere leaves the batches new to the next ingest, which does all of it again.

    The temporary tables are built before the transaction, which only reads them: DuckDB scans a table created
    inside an open transaction on one thread, and on two cores that made the ingest of 1M deliveries 2 s slower.
    Nothing else writes the catalog meanwhile (one writer). The event tables are written here rather than through a
    queue of their own: a queue in the lake cost a Parquet write of every new message's content and a delete per
    table (1.7 s of a 1M-delivery build)."""
    files = [entry["file"] for entry in new.values()]
    try:
        sql.run(conn, "internal/parse_deliveries", {"files": files, "validate_json": validate_json,
                                                    "key_paths": tables.key_paths()})
        sql.run(conn, "internal/canonical_copies")  # before the new deliveries join the ones seen before
        # Which domains have copies that replace older ones, and whether this is the very first ingest (no delivery
        # ingested before): then every table is empty, the event tables take their rows straight from the models
        # (no temporary copy of them, which for 1M deliveries held 0.4 GB and cost 0.3 s), and the facts and
        # scenario tables will be folded whole.
        replacing, first = conn.execute(
            "SELECT list(DISTINCT domain) FILTER (WHERE replaces), NOT EXISTS (FROM etl.deliveries) "
            "FROM new_canonical").fetchone()
        if not first:
            for table in EVENT_TABLES:
                conn.execute(f"CREATE OR REPLACE TEMP TABLE new_{table.name} AS {sql.load(table.name)}",
                             {"domain": table.domain})
        with db.transaction(conn):
            sql.run(conn, "internal/ingest_counts")
            for table in EVENT_TABLES:
                if first:
                    conn.execute(f"INSERT INTO {table.name} BY NAME {sql.load(table.name)}", {"domain": table.domain})
                else:
                    _append_events(conn, table, replaces=table.domain in (replacing or []))
            _note_new_rows(conn, first=first)
            conn.execute(f"INSERT INTO etl.deliveries SELECT {_DELIVERY_COLUMNS} FROM new_deliveries")
            sql.run(conn, "internal/quarantine_deliveries")
            # The few bodies that are not valid UTF-8 are decoded here, each invalid sequence replaced by U+FFFD as
            # Python's "replace" does, and inserted as parameters: a Python function in SQL would import numpy.
            invalid = conn.execute("SELECT mq_msg_id, body FROM new_deliveries WHERE reason IS NOT NULL "
                                   "AND NOT is_utf8(body)").fetchall()
            if invalid:
                conn.execute(sql.load("internal/quarantine_invalid_utf8"), {
                    "mq_msg_ids": [mq_msg_id for mq_msg_id, _ in invalid],
                    "bodies": [body.decode("utf-8", "replace") for _, body in invalid]})
            conn.execute(
                "INSERT INTO etl.ingested_batches (batch_id, file, rows, ingested_at) "
                "SELECT unnest($batch_ids), unnest($files), unnest($rows), now()::TIMESTAMP",
                {"batch_ids": list(new), "files": [entry["file"] for entry in new.values()],
                 "rows": [entry["rows"] for entry in new.values()]})
    finally:
        with db.transaction(conn):  # one commit: on its own, each drop waits for the lake's commit (5-15 ms)
            conn.execute("DROP VIEW IF EXISTS new_events")
            for name in [f"new_{table.name}" for table in EVENT_TABLES] + ["new_canonical", "new_deliveries"]:
                conn.execute(f"DROP TABLE IF EXISTS {name}")


def _append_events(conn: duckdb.DuckDBPyConnection, table: EventTable, *, replaces: bool) -> None:
    """Append the new rows of ``table`` (new_<table>: its model, ``sql/<table>.sql``, over new_events); a copy that
    replaces an older one (``replaces``: some do) deletes that one row (only those ids are looked up), its key
    marked dirty and its event date noted in ``etl.event_changes``. Part of the ingest's transaction."""
    if replaces:
        domain = {"domain": table.domain}
        replaced = f"{table.name} WHERE message_id IN " \
                   "(SELECT message_id FROM new_canonical WHERE domain = $domain AND replaces)"
        conn.execute(f"INSERT INTO etl.event_changes SELECT DISTINCT $name, event_date FROM {replaced}",
                     {**domain, "name": table.name})
        conn.execute(f"INSERT INTO etl.dirty_keys {_dirty_keys(table, f'(SELECT * FROM {replaced})')}", domain)
        conn.execute(f"DELETE FROM {replaced}", domain)
    conn.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM new_{table.name}")


def _note_new_rows(conn: duckdb.DuckDBPyConnection, *, first: bool) -> None:
    """Note the event dates of every event table's new rows in ``etl.event_changes`` and mark their keys dirty for
    every consumer, one statement each for all the tables (each statement on the lake writes a file and commits
    catalog work of its own). The very first ingest wrote its rows straight from the models (no new_<table>): its
    tables held nothing before, so their dates are read from them, and no key needs marking dirty (every fact and
    scenario table is empty, so folded whole). Part of the ingest's transaction."""
    source = {table.name: table.name if first else f"new_{table.name}" for table in EVENT_TABLES}
    conn.execute("INSERT INTO etl.event_changes " + " UNION ALL ".join(
        f"SELECT DISTINCT '{table.name}', event_date FROM {source[table.name]}" for table in EVENT_TABLES))
    if not first:
        conn.execute("INSERT INTO etl.dirty_keys " + " UNION ALL ".join(
            _dirty_keys(table, source[table.name]) for table in EVENT_TABLES))


def row_counts(conn: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, int]:
    """The row count of each table or view of ``names`` (names from the registries, never input), in one statement:
    each statement on the lake costs catalog work of its own, a count of a lake table only catalog work."""
    if not names:
        return {}
    counts = conn.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {name})" for name in names)).fetchone()
    return dict(zip(names, counts))


def report_ingested(conn: duckdb.DuckDBPyConnection) -> IngestResult:
    """What was ingested since the last call (by any step, or by ``jushita-etl build`` before its run), now marked
    reported: the numbers a raw_messages materialization records."""
    with db.transaction(conn):
        batches, rows, deliveries, quarantined = conn.execute(sql.load("internal/unreported_ingest")).fetchone()
        conn.execute("UPDATE etl.ingested_batches SET reported_at = now()::TIMESTAMP WHERE reported_at IS NULL")
    return IngestResult(batches, rows, deliveries, quarantined, changed_dates(conn))


def changed_dates(conn: duckdb.DuckDBPyConnection) -> list[date]:
    """The event dates whose rows the ingest changed, in any event table, not yet reported (``report_events``)."""
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT event_date FROM etl.event_changes ORDER BY 1").fetchall()]


@dataclass
class Applied:
    """What the ingest changed in one event table since the last report: the table's row count for each event date
    whose rows changed, and how many message ids of those dates have more than one row in the table (the
    unique-key check, on the ids of the changed dates: an id only ever gets rows by an ingest, so the rest of the
    table cannot have changed)."""

    rows_by_date: dict[date, int]
    duplicated_ids: int


GROUP_WHOLE_ROWS = 250_000
"""Up to this many rows, an event table's unique-id check groups the whole table rather than looking the changed
partitions' ids up in it (and a fact's unique-key check, rather than looking up the keys a refold wrote): the lookup
scans the table twice, and each scan on the lake costs 5-10 ms of catalog work, more than grouping this many ids
(15 ms). Above it, the lookup is the cheaper one (5M ids: 0.5 s grouped, 0.02 s looked up)."""


def report_events(conn: duckdb.DuckDBPyConnection) -> dict[str, Applied]:
    """What the ingests changed in each event table since the last report (``Applied``; every event table, empty
    when unchanged), now reported: ``etl.event_changes`` is emptied in the same transaction. Two statements over
    all the tables (each statement on the lake costs catalog work of its own)."""
    with db.transaction(conn):
        changed = conn.execute("SELECT DISTINCT table_name, event_date FROM etl.event_changes").fetchall()
        report = {table.name: Applied({day: 0 for name, day in changed if name == table.name}, 0)
                  for table in EVENT_TABLES}
        touched = {f"t{i}": table.name for i, table in enumerate(EVENT_TABLES) if report[table.name].rows_by_date}
        if touched:
            def dates(slot: str) -> str:  # the table's changed dates; its name bound as $<slot>
                return f"(SELECT event_date FROM etl.event_changes WHERE table_name = ${slot})"

            # each changed partition's rows, and each table's (a NULL date: catalog work only)
            counts = " UNION ALL ".join(
                f"SELECT ${slot}, event_date, count(*) FROM {name} WHERE event_date IN {dates(slot)} GROUP BY ALL "
                f"UNION ALL SELECT ${slot}, NULL, count(*) FROM {name}"
                for slot, name in touched.items())
            totals = {}
            for name, day, rows in conn.execute(counts, touched).fetchall():
                if day is None:
                    totals[name] = rows
                else:
                    report[name].rows_by_date[day] = rows

            def ids(slot: str, name: str) -> str:  # the ids of the changed partitions, or of the whole table
                if totals[name] <= GROUP_WHOLE_ROWS or sum(report[name].rows_by_date.values()) == totals[name]:
                    return name
                return f"{name} WHERE message_id IN (SELECT message_id FROM {name} WHERE event_date IN {dates(slot)})"

            duplicates = " UNION ALL ".join(
                f"SELECT ${slot}, count(*) FROM "
                f"(SELECT message_id FROM {ids(slot, name)} GROUP BY 1 HAVING count(*) > 1)"
                for slot, name in touched.items())
            for name, duplicated in conn.execute(duplicates, touched).fetchall():
                report[name].duplicated_ids = duplicated
        conn.execute("DELETE FROM etl.event_changes")
    return report


def _dirty_keys(table: EventTable, rows: str) -> str:
    """The dirty keys of ``rows`` (a relation of ``table``'s rows) for every consumer of the table, as one query;
    each key once, as the consumers read and delete these rows."""
    return " UNION ALL ".join(f"SELECT DISTINCT '{consumer}', {key}, {key2} FROM {rows}"
                              for consumer, (key, key2) in table.dirty.items())


@dataclass(frozen=True)
class Refolded:
    """What a refold wrote: the rows folded for the dirty keys (all of them when folded entirely), and the fact
    table's rows after it. ``duplicated_keys``: how many of the keys it wrote the table now holds more than once,
    counted by the refold itself when it looked them up (``refold_fact``); None when the table is to be grouped
    whole (its unique-key check, ``defs/quality.py``)."""

    rows: int
    total: int
    duplicated_keys: int | None = None


def refold_fact(conn: duckdb.DuckDBPyConnection, fact: FactTable, *, before: int, full: bool = False) -> Refolded:
    """Refold one fact table for its dirty keys (or entirely), in one transaction. ``before``: the table's row count
    (``row_counts``, one statement for all the facts a step refolds).

    An empty table (a first build) is folded entirely: the same rows (a fold is a function of the events alone, and
    every key with events is dirty or already folded), without looking the dirty keys up, and with nothing to
    delete. Each statement on the lake costs catalog work of its own, so none is run that an empty table or a
    whole refold makes pointless."""
    empty = before == 0
    full = full or empty
    params = {"full": full}
    duplicated = None
    try:
        # folded before the transaction, which only reads it (see _ingest_batches: a table created inside one is
        # scanned on one thread)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE folded AS {sql.load(fact.name)}", params)
        with db.transaction(conn):
            if fact.name == "fact_refunds":
                # A refund's state feeds fact_orders.refunded_amount: refold the orders it pointed at before and after.
                orders = {"orders": tables.table("fact_orders").domain, "refunds": fact.domain}
                if not empty:
                    conn.execute(
                        "INSERT INTO etl.dirty_keys SELECT $orders, tid, NULL FROM fact_refunds WHERE tid IS NOT NULL "
                        "AND ($full OR refund_id IN (SELECT key FROM etl.dirty_keys WHERE domain = $refunds))",
                        {**params, **orders})
                conn.execute("INSERT INTO etl.dirty_keys SELECT $orders, tid, NULL FROM folded WHERE tid IS NOT NULL",
                             {"orders": orders["orders"]})
            deleted = 0
            if full and not empty:
                conn.execute(f"DELETE FROM {fact.name}")
            elif not full:
                deleted = db.affected(conn, f"DELETE FROM {fact.name} WHERE {fact.dirty}", {"domain": fact.domain})
            written = db.affected(conn, f"INSERT INTO {fact.name} BY NAME SELECT * FROM folded")
            conn.execute("DELETE FROM etl.dirty_keys WHERE domain = $domain", {"domain": fact.domain})
        # the writer is the only one: the table's count after is the one before, less the rows deleted, plus the
        # written
        total = written if full else before - deleted + written
        if fact.key and not full and total > GROUP_WHOLE_ROWS:
            duplicated = duplicated_written_keys(conn, fact.name, fact.key, "folded")
    finally:
        conn.execute("DROP TABLE IF EXISTS folded")
    return Refolded(written, total, duplicated)


def duplicated_written_keys(conn: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...], written: str) -> int:
    """How many of the keys of the rows in ``written`` (a relation with ``key``'s columns) ``table`` holds more than
    once. A refold deletes the rows of the keys it writes and leaves every other row alone, so only its own keys
    can have become duplicated: looked up, they cost what was refolded rather than a grouping of the whole table
    on every build (see GROUP_WHOLE_ROWS). Compared as structs, so keys with NULL fields match as a grouping would
    match them."""
    row = ", ".join(f"'{column}': t.{column}" for column in key)
    same = ", ".join(f"'{column}': w.{column}" for column in key)
    return conn.execute(
        f"SELECT count(*) FROM (SELECT {', '.join(key)} FROM {table} AS t "
        f"WHERE {{{row}}} IN (SELECT {{{same}}} FROM {written} AS w) GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]


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


def recorded_reconciliation(conn: duckdb.DuckDBPyConnection, snapshot: int) -> Reconciliation:
    """The reconciliation ``lake.publish`` counted on the snapshot it published."""
    row = conn.execute("SELECT deliveries, events, duplicates, quarantined, unmodelled FROM etl.reconciliations "
                       "WHERE snapshot_id = $snapshot LIMIT 1", {"snapshot": snapshot}).fetchone()
    return Reconciliation(*row)
