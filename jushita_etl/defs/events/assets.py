"""The event tables: one row per platform message, daily partitions by ``event_date`` (Asia/Shanghai)."""


import dagster as dg

from jushita_etl.defs.events.checks import EVENT_CHECK, EVENT_KEYS, event_check_specs
from jushita_etl.defs.partitions import DAILY, window_for
from jushita_etl.defs.quality import duplicated_keys, is_selected, unique_key_result
from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.warehouse import steps

TOPICS = {
    "trade_events": "taobao_trade_*",
    "refund_events": "taobao_refund_*",
    "item_events": "taobao_item_*",
    "logistics_events": "taobao_logistics_LogsticDetailTrace",
    "rating_events": "taobao_traderate_*",
    "fenxiao_events": "taobao_fenxiao_*",
}


def _event_spec(table: steps.EventTable) -> dg.AssetSpec:
    return dg.AssetSpec(
        table.name,
        deps=["raw_messages"],
        partitions_def=DAILY,
        group_name="events",
        kinds={"duckdb"},
        description=f"Grain: one row per platform message (envelope id) of topics {TOPICS[table.name]}, "
        "deduplicated across redeliveries and platform re-publishes. Provenance: the canonical landed copy of "
        "each message, parsed per the warehouse contract. Partitioned by event_date (China time).",
    )


@dg.multi_asset(specs=[_event_spec(table) for table in steps.EVENT_TABLES], check_specs=event_check_specs,
                backfill_policy=dg.BackfillPolicy.single_run(), pool=WAREHOUSE_POOL)
def event_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Replace the rows of every event table for the run's window of event dates, one transaction per table.

    A backfill of any range runs as one run over the whole range. Landed batches not yet ingested are ingested
    first, so a run never depends on which run the sensor's requests execute first. Each table's unique-key check
    is evaluated on the whole table right after its rebuild (the tables after it do not touch it).
    """
    window = context.partition_time_window
    date_from, date_to = window_for(window.start, window.end)
    keys = sorted(context.partition_keys)
    rebuilt = {}
    checked = {table.name for table in steps.EVENT_TABLES if is_selected(context, table.name, EVENT_CHECK)}

    def duplicates(conn, table: steps.EventTable) -> int | None:  # on the rebuilding worker, right after the table
        return duplicated_keys(conn, table.name, EVENT_KEYS[table.name]) if table.name in checked else None

    with warehouse.writer() as conn:
        steps.ingest(conn, warehouse.paths.landing)
        # each table is reported, and its unique-key check, as soon as its window is committed, while the ones after
        # it are rebuilt
        for table, by_date, duplicated in steps.refresh_events(conn, date_from, date_to, then=duplicates):
            # each partition of the window reports its own rows; dates beyond the window's ends can only be in the
            # open-ended first or last partition of the whole set (see window_for), so they clamp to its ends
            per_partition = dict.fromkeys(keys, 0)
            for day, rows in by_date.items():
                per_partition[min(max(day.isoformat(), keys[0]), keys[-1])] += rows
            for partition_key, rows in per_partition.items():
                context.add_asset_metadata({"dagster/row_count": rows}, asset_key=table.name, partition_key=partition_key)
            rebuilt[table.name] = sum(by_date.values())
            yield dg.MaterializeResult(asset_key=table.name, metadata={"event_dates": f"[{date_from}, {date_to})"})
            if duplicated is not None:
                yield unique_key_result(table.name, EVENT_CHECK, duplicated)
    context.log.info(f"rebuilt event dates [{date_from}, {date_to}): {rebuilt}")


events_job = dg.define_asset_job(
    "events_job", selection=dg.AssetSelection.assets(event_tables), partitions_def=DAILY,
    description="Rebuild the event tables for one day or a range of days (backfills run as a single run).",
)

events_daily_schedule = dg.build_schedule_from_partitioned_job(
    events_job, hour_of_day=3, minute_of_hour=0,
    description="Every night (China time), rebuild yesterday's events: days-late deliveries are folded in even "
    "if a sensor tick was missed.",
)
