"""The event tables: one row per platform message, daily partitions by ``event_date`` (Asia/Shanghai)."""


import dagster as dg

from jushita_etl.defs.events.checks import EVENT_CHECK, event_check_specs
from jushita_etl.defs.partitions import DAILY
from jushita_etl.defs.quality import is_selected, unique_key_result
from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.defs.tables import table_spec
from jushita_etl.warehouse import steps


def _event_spec(table: steps.EventTable) -> dg.AssetSpec:
    return table_spec(
        table.name,
        provenance="the canonical landed copy of each message, parsed per the warehouse contract (§3). "
        "Partitioned by event_date (China time).",
        deps=["raw_messages"],
        partitions_def=DAILY,
        group_name="events",
        kinds={"ducklake"},
    )


@dg.multi_asset(specs=[_event_spec(table) for table in steps.EVENT_TABLES], check_specs=event_check_specs,
                backfill_policy=dg.BackfillPolicy.single_run(), pool=WAREHOUSE_POOL)
def event_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Report the event tables' changes: each partition the ingest wrote rows to (or replaced rows in), with its row
    count, and each table's unique-key check on the ids of those partitions.

    The ingest appends the new canonical copies to the event tables in its own transaction (``steps.ingest``), so
    this step first ingests what is landed and not ingested yet, then reports every change not reported before,
    whoever ingested it (a build ingests before its run starts). A run's partition range (a backfill of any range
    runs as one run) only says which partitions it reports.
    """
    keys = sorted(context.partition_keys)
    warehouse.ingest()
    with warehouse.writer() as conn:
        changes = steps.report_events(conn)
    for table in steps.EVENT_TABLES:
        by_date = changes[table.name].rows_by_date
        # dates outside the run's range (before the first partition, or changed by an ingest after the run was
        # planned) are reported with the range's nearest end
        per_partition: dict[str, int] = {}
        for day, rows in by_date.items():
            key = min(max(day.isoformat(), keys[0]), keys[-1])
            per_partition[key] = per_partition.get(key, 0) + rows
        for partition_key, rows in per_partition.items():
            context.add_asset_metadata({"dagster/row_count": rows}, asset_key=table.name, partition_key=partition_key)
        yield dg.MaterializeResult(asset_key=table.name, metadata={"event_dates_changed": len(by_date)})
        if is_selected(context, table.name, EVENT_CHECK):
            yield unique_key_result(table.name, EVENT_CHECK, changes[table.name].duplicated_ids)
    context.log.info(f"event dates changed per table: { {name: len(c.rows_by_date) for name, c in changes.items()} }")
