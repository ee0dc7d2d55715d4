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
    """Move the platform messages queued by the ingest into their event tables, one transaction per table, and
    report each partition the new rows fall in with its row count.

    The work is what is new, whatever the run's partitions: landed batches not yet ingested are ingested first, and
    every queued message is applied, so a run never depends on which run executes first. A run's partition range
    (a backfill of any range runs as one run) only says which partitions it reports. Each table's unique-key check
    is evaluated right after its transaction.
    """
    keys = sorted(context.partition_keys)
    applied = {}
    with warehouse.writer() as conn:
        steps.ingest(conn, warehouse.paths)
        for table in steps.EVENT_TABLES:
            applied_now = steps.apply_events(conn, table)
            by_date = applied_now.rows_by_date
            # dates outside the run's range (before the first partition, or queued by an ingest after the run was
            # planned) are reported with the range's nearest end
            per_partition: dict[str, int] = {}
            for day, rows in by_date.items():
                key = min(max(day.isoformat(), keys[0]), keys[-1])
                per_partition[key] = per_partition.get(key, 0) + rows
            for partition_key, rows in per_partition.items():
                context.add_asset_metadata({"dagster/row_count": rows}, asset_key=table.name, partition_key=partition_key)
            applied[table.name] = len(by_date)
            yield dg.MaterializeResult(asset_key=table.name, metadata={"event_dates_changed": len(by_date)})
            if is_selected(context, table.name, EVENT_CHECK):  # counted by apply_events on the ids it wrote
                yield unique_key_result(table.name, EVENT_CHECK, applied_now.duplicated_ids)
    context.log.info(f"event dates changed per table: {applied}")
