"""What a build has to do, from the warehouse's own state: the one planner of `jushita-etl build` and of the
landing sensor, so CLI builds and the Dagster daemon never redo each other's work.

Work is: landed batches the catalog has not ingested (or this data directory's batches not shipped to it yet),
platform messages queued for the event tables, fact or scenario keys to refold, or commits that no publish has made
visible yet (a run that failed before its last step, or a backfill from the UI). The event dates of the plan (queued messages, and the manifest's hints of the new
batches) are what the run's partition range reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from jushita_etl.landing.manifest import read_manifest
from jushita_etl.warehouse import lake, landed, steps


@dataclass
class Plan:
    new_batches: int
    dates: list[date]
    refolds: bool  # queued events or dirty keys
    unpublished: bool

    @property
    def anything(self) -> bool:
        return bool(self.new_batches or self.refolds or self.unpublished)


def plan(conn: duckdb.DuckDBPyConnection, landing: Path) -> Plan:
    """The plan, on a connection to the catalog's newest state (the writer's, or a read-only one)."""
    new = steps.new_batches(conn)
    unshipped = landed.unshipped(conn, landing)
    hinted = _hinted_dates([*new.values(), *unshipped])
    refolds = conn.execute("SELECT EXISTS (FROM etl.pending_events) OR EXISTS (FROM etl.dirty_keys)").fetchone()[0]
    return Plan(len(new) + len(unshipped), sorted(hinted | set(steps.pending_dates(conn))), refolds, lake.unpublished(conn))


def plan_from_manifest(landing: Path) -> Plan:
    """The plan before anything was built: every landed batch is new."""
    entries = read_manifest(landing)[0]
    return Plan(len(entries), sorted(_hinted_dates(entries)), False, False)


def _hinted_dates(entries) -> set[date]:
    return {day for entry in entries for day in map(_hinted_date, entry.get("event_dates", [])) if day}


def _hinted_date(text: str) -> date | None:
    """A manifest hint as a date; None for text shaped like a date that is none (2026-02-30 in a bad pub_time)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
