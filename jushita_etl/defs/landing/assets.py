"""Landing → warehouse: ``raw_messages`` and ``quarantine``."""


import dagster as dg

from jushita_etl.defs.landing.checks import (landed_batches_readable, quarantine_rate, quarantine_rate_spec,
                                             readable_spec)
from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.defs.tables import table_spec
from jushita_etl.warehouse import steps, unreadable


def _raw_messages_spec() -> dg.AssetSpec:
    return table_spec(
        "raw_messages",
        provenance="every Parquet micro-batch of the landing zone that the warehouse has ingested (a view over "
        "those files).",
        group_name="landing",
        kinds={"ducklake", "parquet"},
    )


def _quarantine_spec() -> dg.AssetSpec:
    return table_spec(
        "quarantine",
        provenance="the parse of each new delivery during ingest.",
        group_name="landing",
        kinds={"ducklake"},
    )


@dg.multi_asset(specs=[_raw_messages_spec(), _quarantine_spec()], check_specs=[quarantine_rate_spec, readable_spec],
                pool=WAREHOUSE_POOL)
def ingest_landing(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Bring newly landed batches into the warehouse: parse every new delivery once, quarantine the bad ones and
    append the new platform messages to their event tables (the event step reports those). Records what was
    ingested since the previous materialization, whoever ingested it (a build parses new batches before its run
    starts). Then the quarantine rate check and the check that every landed batch could be read."""
    warehouse.ingest()  # often nothing is left: `jushita-etl build` ingests first
    with warehouse.writer() as conn:
        result = steps.report_ingested(conn)
        raw_rows = conn.execute("SELECT count(*) FROM etl.deliveries").fetchone()[0]
        quarantined = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 1").fetchall())
        waiting = unreadable.unresolved(conn)
    context.log.info(
        f"since the last report: ingested {result.batches} batch(es), {result.rows:,} rows, "
        f"{result.new_deliveries:,} new deliveries, {result.quarantined:,} quarantined; "
        f"changed event dates: {[d.isoformat() for d in result.affected_dates]}"
    )
    yield dg.MaterializeResult(
        asset_key="raw_messages",
        metadata={
            "dagster/row_count": raw_rows,
            "new_batches": result.batches,
            "new_rows": result.rows,
            "new_deliveries": result.new_deliveries,
            "changed_event_dates": [d.isoformat() for d in result.affected_dates],
        },
    )
    yield dg.MaterializeResult(
        asset_key="quarantine",
        metadata={"dagster/row_count": sum(quarantined.values()), "new_rows": result.quarantined,
                  "by_reason": quarantined},
    )
    yield quarantine_rate(quarantined, raw_rows)
    yield landed_batches_readable(waiting)
