"""Every step of a build, in the order a Dagster run takes them, on one writer connection and without Dagster.

A run of ``warehouse_job`` (``defs/``) takes these steps one asset at a time and records each one's metadata and
checks; ``run_steps`` is that run with nothing recorded. It is what the SQL rule tests (``tests/unit/``), the lake
tests' micro-batches and the maintenance benchmark run, so that a step added to the build is added here once.
"""

from __future__ import annotations

import duckdb

from jushita_etl.settings import Paths
from jushita_etl.warehouse import db, lake, scenarios, steps


def run_steps(conn: duckdb.DuckDBPyConnection, paths: Paths, *, full: bool = False) -> int:
    """Ingest what is landed (into the event tables too), report the event tables' changes, refold the facts and
    refresh the scenario tables (for the dirty keys, or entirely with ``full``), then publish what analysts read.
    Returns the published snapshot."""
    steps.ingest(conn, paths)
    steps.report_events(conn)
    before = steps.row_counts(conn, [fact.name for fact in steps.FACT_TABLES])
    for fact in steps.FACT_TABLES:  # fact_refunds first: fact_orders.refunded_amount reads it
        steps.refold_fact(conn, fact, full=full, before=before[fact.name])
    before = steps.row_counts(conn, [table.name for table in scenarios.SCENARIO_TABLES])
    for table in scenarios.SCENARIO_TABLES:  # after the facts and events they read
        scenarios.refresh(conn, table, full=full, before=before[table.name])
    return lake.publish(conn)


def build_without_dagster(paths: Paths, *, full: bool = False, timeout: float = 600.0) -> int:
    """``run_steps`` on the data directory's writer (waiting up to ``timeout`` seconds for another writer)."""
    with db.writer(paths, timeout=timeout) as conn:
        return run_steps(conn, paths, full=full)
