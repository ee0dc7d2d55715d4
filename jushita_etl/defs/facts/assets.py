"""The fact tables (current state folded from the events) and the published analyst file."""


import dagster as dg

from jushita_etl.defs.partitions import DAILY
from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.warehouse import db, steps

FACT_DEPS = {
    "fact_refunds": ["refund_events"],
    "fact_orders": ["trade_events", "fact_refunds"],
    "dim_items": ["item_events"],
    "fact_shipments": ["logistics_events"],
    "fact_rating_impressions": ["rating_events"],
}
GRAIN = {
    "fact_refunds": "one row per refund_id",
    "fact_orders": "one row per tid, with refunded_amount from fact_refunds",
    "dim_items": "one row per num_iid",
    "fact_shipments": "one row per (tid, out_sid); out_sid '' where traces carry none",
    "fact_rating_impressions": "one row per well-formed negative-impression item of a rating event",
}


class FoldConfig(dg.Config):
    full: bool = False
    """Refold every key instead of only the keys the changed event partitions touched."""


def _fact_asset(fact: steps.FactTable) -> dg.AssetsDefinition:
    @dg.asset(
        name=fact.name,
        deps=FACT_DEPS[fact.name],
        group_name="facts",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        automation_condition=dg.AutomationCondition.eager(),
        description=f"Grain: {GRAIN[fact.name]}. Provenance: folded from {', '.join(FACT_DEPS[fact.name])} "
        "(warehouse contract §4), incrementally for the keys the changed event partitions touched.",
    )
    def _fold(context: dg.AssetExecutionContext, config: FoldConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.writer() as conn:
            refolded = steps.refold_fact(conn, fact, full=config.full)
            total = conn.execute(f"SELECT count(*) FROM {fact.name}").fetchone()[0]
        return dg.MaterializeResult(metadata={"dagster/row_count": total, "refolded_rows": refolded, "full": config.full})

    return _fold


fact_assets = [_fact_asset(fact) for fact in steps.FACT_TABLES]  # collected by the defs loader as a list


@dg.asset(
    deps=[*FACT_DEPS, "quarantine", "raw_messages", *[t.name for t in steps.EVENT_TABLES]],
    group_name="facts",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    automation_condition=dg.AutomationCondition.eager(),
    description="The analysts' file, data/warehouse.duckdb: a consistent copy of the build database, swapped in "
    "atomically (open it read-only; reconnect to see a newer build).",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    # The reconciliation invariant is this asset's check, evaluated on the file just published.
    with warehouse.writer() as conn:
        path = db.publish(conn, warehouse.paths)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "size_mb": round(path.stat().st_size / 1e6, 1),
    })


facts_job = dg.define_asset_job(
    "facts_job",
    selection=dg.AssetSelection.groups("landing")
    | dg.AssetSelection.assets(*[a.key for a in fact_assets], published_warehouse.key),
    description="Ingest new batches, refold the facts for touched keys and publish the analysts' file (event "
    "partitions the new batches touch are left to the sensor's runs).",
)

warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.groups("landing", "events", "facts"),
    partitions_def=DAILY,
    description="Ingest new batches, rebuild the event tables for a day or a range of days, refold the facts they "
    "touch and publish, in one run (what `jushita-etl build` runs).",
)

daily_reconciliation = dg.ScheduleDefinition(
    name="daily_reconciliation",
    target=facts_job,
    cron_schedule="30 3 * * *",
    execution_timezone="Asia/Shanghai",
    run_config=dg.RunConfig(ops={fact.name: FoldConfig(full=True) for fact in steps.FACT_TABLES}),
    description="Nightly: ingest, refold every fact from scratch (a full refold must equal the incremental "
    "state), compact the build database and publish.",
)
