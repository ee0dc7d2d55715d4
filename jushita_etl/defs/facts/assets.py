"""The fact tables (current state folded from the events) and the published snapshot analysts read."""


import dagster as dg

from jushita_etl.defs.facts.checks import (FACT_CHECK, FACT_KEYS, fact_check_specs, reconciliation_result,
                                           reconciliation_spec)
from jushita_etl.defs.quality import unique_key_results
from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.defs.tables import table_spec
from jushita_etl.warehouse import lake, scenarios, steps

FACT_DEPS = {
    "fact_refunds": ["refund_events"],
    "fact_orders": ["trade_events", "fact_refunds"],
    "dim_items": ["item_events"],
    "fact_shipments": ["logistics_events"],
    "fact_rating_impressions": ["rating_events"],
}


class FoldConfig(dg.Config):
    full: bool = False
    """Refold every key instead of only the keys the changed event partitions touched."""


def _fact_spec(fact: steps.FactTable) -> dg.AssetSpec:
    return table_spec(
        fact.name,
        provenance=f"folded from {', '.join(FACT_DEPS[fact.name])} (warehouse contract §4), incrementally for the "
        "keys the changed event partitions touched.",
        deps=FACT_DEPS[fact.name],
        group_name="facts",
        kinds={"ducklake"},
    )


@dg.multi_asset(specs=[_fact_spec(fact) for fact in steps.FACT_TABLES], check_specs=fact_check_specs,
                can_subset=True, pool=WAREHOUSE_POOL)
def fact_tables(context: dg.AssetExecutionContext, config: FoldConfig, warehouse: WarehouseResource):
    """Refold the selected fact tables, each in one transaction, for the keys the changed event partitions
    touched (or entirely, with ``full``), then evaluate their unique-key checks. One step for all five: the folds
    take tenths of a second, and every step of a run is a dozen events in the instance's SQLite. Subsettable, so
    one fact can be materialized alone from the UI. fact_refunds folds first (the facts' order in sql/tables.yml):
    fact_orders.refunded_amount reads it. A unique-key check looks up the keys the refold wrote in a large table,
    and groups a small one (or one folded whole) entirely."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    with warehouse.writer() as conn:
        before = steps.row_counts(conn, [fact.name for fact in steps.FACT_TABLES if fact.name in selected])
        counted = {}  # the facts whose refold looked up the keys it wrote (large tables): the rest are grouped whole
        for fact in steps.FACT_TABLES:
            if fact.name not in selected:
                continue
            refolded = steps.refold_fact(conn, fact, full=config.full, before=before[fact.name])
            if refolded.duplicated_keys is not None:
                counted[fact.name] = refolded.duplicated_keys
            yield dg.MaterializeResult(asset_key=fact.name, metadata={
                "dagster/row_count": refolded.total, "refolded_rows": refolded.rows, "full": config.full})
        yield from unique_key_results(context, conn, FACT_KEYS, FACT_CHECK, counted)


@dg.asset(
    deps=[*FACT_DEPS, "quarantine", "raw_messages", *[t.name for t in steps.EVENT_TABLES],
          *[t.name for t in scenarios.SCENARIO_TABLES]],
    group_name="facts",
    kinds={"ducklake"},
    pool=WAREHOUSE_POOL,
    check_specs=[reconciliation_spec],
    description="The state analysts read: the lakehouse snapshot at the end of the build, recorded in etl.published "
    "(jushita_etl.connect() and `jushita-etl sql` read the last one). Nothing is copied.",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.writer() as conn:
        snapshot = lake.publish(conn)
        reconciliation = steps.recorded_reconciliation(conn, snapshot)
    yield dg.MaterializeResult(metadata={"snapshot": snapshot})
    yield reconciliation_result(reconciliation)
