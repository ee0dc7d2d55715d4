"""The business-scenario tables of contract v2 §6, refreshed after the facts in the same run.

Each table's model is ``sql/<table>.sql``, a plain query of the whole table that can be read and run on its own.
How a build refreshes it is declared here:

* ``shipment_alerts`` and ``refund_interceptions`` depend on the watermark W (the newest event), so any build can
  change any of their rows: they are recomputed whole, from the facts' open rows only (the models filter on the
  unsigned shipments, unshipped paid orders and refunds in a stoppable state before joining).
* ``rating_keywords``, ``item_history`` and ``distributor_daily`` are refreshed for the groups their new events
  touch: the event step marks the new rows' keys dirty for them (``steps.EVENT_TABLES``), and here the groups of
  those keys are deleted and recomputed, the model filtered to them (DuckDB pushes the filter into the scans).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb

from jushita_etl.warehouse import db, sql, tables


@dataclass(frozen=True)
class ScenarioTable:
    name: str
    key: str  # the columns that identify a row (its unique-key check), from sql/tables.yml
    # incremental refresh: the source table whose rows the dirty keys (domain = name) point at, the source column the
    # keys match, and the group columns (shared by source and table) to refresh; None: recomputed whole
    source: str | None = None
    source_key: str = ""
    groups: tuple[str, ...] = ()


# How each incremental table is refreshed; the others are recomputed whole.
_INCREMENTAL = {
    "rating_keywords": dict(source="fact_rating_impressions", source_key="message_id",
                            groups=("seller_nick", "num_iid", "category", "phrase")),
    "item_history": dict(source="item_events", source_key="num_iid", groups=("num_iid",)),
    "distributor_daily": dict(source="fenxiao_events", source_key="message_id",
                              groups=("supplier_username", "distributor_username", "event_date")),
}
SCENARIO_TABLES = [ScenarioTable(t.name, t.key_text, **_INCREMENTAL.get(t.name, {}))
                   for t in tables.of_kind("scenarios")]
ALERT_TABLES = {"shipment_alerts": "alert_type", "refund_interceptions": "refund_status"}

THRESHOLDS = {  # shipment_alerts' parameter -> (setting, default hours), contract §6.1
    "pickup_hours": ("JUSHITA_ALERT_PICKUP_HOURS", 24.0),
    "transport_hours": ("JUSHITA_ALERT_TRANSPORT_HOURS", 48.0),
    "delivery_hours": ("JUSHITA_ALERT_DELIVERY_HOURS", 24.0),
    "consign_hours": ("JUSHITA_ALERT_CONSIGN_HOURS", 48.0),
}


def thresholds() -> dict[str, float]:
    """The alert thresholds in hours, from the settings (the contract's defaults otherwise)."""
    return {name: float(os.environ.get(setting) or default) for name, (setting, default) in THRESHOLDS.items()}


def _params(table: ScenarioTable) -> dict:
    return thresholds() if table.name == "shipment_alerts" else {}


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: the table's rows before, the rows it wrote, the rows after, and for the alert tables
    (ALERT_TABLES) the rows after by type or status."""

    before: int
    rows: int
    total: int
    by: dict[str, int] | None = None


def refresh(conn: duckdb.DuckDBPyConnection, table: ScenarioTable, *, before: int, full: bool = False) -> Refreshed:
    """Refresh one scenario table in one transaction (whole, or the groups its dirty keys touch). ``before``: the
    table's row count (``steps.row_counts``, one statement for all the tables a step refreshes).

    Each statement on the lake costs catalog work of its own, so the counts a materialization reports come from the
    statements that write: the count before also says whether the table is empty, the INSERT and DELETE return the
    rows they wrote and removed, and the count after adds them up (the writer is the only one)."""
    model = sql.load(table.name)
    by = ALERT_TABLES.get(table.name)
    counts = None
    with db.transaction(conn):
        # an empty table (a first build) is computed whole: the same rows, without looking the groups up
        if table.source is None or full or not before:
            if before:
                conn.execute(f"DELETE FROM {table.name}")
            written = total = db.affected(conn, f"INSERT INTO {table.name} BY NAME {model}", _params(table))
            if by:
                counts = counts_by(conn, table.name, by)
        else:
            deleted, written = _refresh_groups(conn, table, model)
            total = before - deleted + written  # the writer is the only one
        if table.source is not None:
            conn.execute("DELETE FROM etl.dirty_keys WHERE domain = $domain", {"domain": table.name})
    return Refreshed(before, written, total, counts)


def _refresh_groups(conn: duckdb.DuckDBPyConnection, table: ScenarioTable, model: str) -> tuple[int, int]:
    """Delete and recompute the groups of the source rows the dirty keys point at (NULLs group together). Returns
    the rows deleted and the rows written."""
    columns = ", ".join(table.groups)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE scenario_groups AS SELECT DISTINCT {columns} FROM {table.source} "
        f"WHERE {table.source_key} IN (SELECT key FROM etl.dirty_keys WHERE domain = $domain)", {"domain": table.name})
    try:
        if not conn.execute("SELECT count(*) FROM scenario_groups").fetchone()[0]:
            return 0, 0

        def in_groups(alias: str) -> str:
            # a struct of the group's columns compares its NULL fields as equal (NULLs group together), and an IN
            # runs as a hash semi join, where a correlated EXISTS took twice as long
            row = ", ".join(f"'{c}': {alias}.{c}" for c in table.groups)
            group = ", ".join(f"'{c}': {c}" for c in table.groups)
            return f"{{{row}}} IN (SELECT {{{group}}} FROM scenario_groups)"

        deleted = db.affected(conn, f"DELETE FROM {table.name} AS t WHERE {in_groups('t')}")
        return deleted, db.affected(
            conn, f"INSERT INTO {table.name} BY NAME SELECT m.* FROM ({model}) AS m WHERE {in_groups('m')}")
    finally:
        conn.execute("DROP TABLE IF EXISTS scenario_groups")


def counts_by(conn: duckdb.DuckDBPyConnection, table: str, column: str) -> dict[str, int]:
    """Rows of ``table`` per value of ``column`` (the alert tables' type or status)."""
    return {str(k): n for k, n in conn.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY 1 ORDER BY 1").fetchall()}
