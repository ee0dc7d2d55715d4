"""The business-scenario tables of contract v2 §6 (group ``scenarios``): refreshed after the facts they read, in
the same run, and published with them in one snapshot."""

import dagster as dg

from jushita_etl.defs.facts.assets import FoldConfig
from jushita_etl.defs.quality import is_selected, unique_key_results
from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.defs.scenarios.checks import (ALERT_VOLUME_CHECK, SCENARIO_CHECK, SCENARIO_KEYS, alert_volume,
                                               scenario_check_specs)
from jushita_etl.defs.tables import table_spec
from jushita_etl.warehouse import scenarios, steps

DEPS = {
    "shipment_alerts": ["fact_shipments", "fact_orders"],
    "refund_interceptions": ["fact_refunds", "fact_orders", "fact_shipments"],
    "rating_keywords": ["fact_rating_impressions"],
    "item_history": ["item_events"],
    "distributor_daily": ["fenxiao_events"],
}


def _scenario_spec(table: scenarios.ScenarioTable) -> dg.AssetSpec:
    refresh = ("recomputed whole every build as of the watermark W (the newest event's pub_time)"
               if table.source is None else "refreshed for the groups with new events")
    return table_spec(
        table.name, provenance=f"sql/{table.name}.sql over {', '.join(DEPS[table.name])} (warehouse contract §6), "
        f"{refresh}.", deps=DEPS[table.name], group_name="scenarios", kinds={"ducklake"})


@dg.multi_asset(specs=[_scenario_spec(table) for table in scenarios.SCENARIO_TABLES],
                check_specs=scenario_check_specs, can_subset=True, pool=WAREHOUSE_POOL)
def scenario_tables(context: dg.AssetExecutionContext, config: FoldConfig, warehouse: WarehouseResource):
    """Refresh the selected scenario tables, each in one transaction, then evaluate their checks. One step for all
    five (each refresh takes tenths of a second, each step costs a dozen events in the instance's SQLite)."""
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    with warehouse.writer() as conn:
        before = steps.row_counts(conn, [table.name for table in scenarios.SCENARIO_TABLES if table.name in selected])
        for table in scenarios.SCENARIO_TABLES:
            if table.name not in selected:
                continue
            refreshed = scenarios.refresh(conn, table, full=config.full, before=before[table.name])
            metadata = {"dagster/row_count": refreshed.total, "refreshed_rows": refreshed.rows}
            by = scenarios.ALERT_TABLES.get(table.name)
            if by:
                metadata[f"rows_by_{by}"] = refreshed.by
            yield dg.MaterializeResult(asset_key=table.name, metadata=metadata)
            if by and is_selected(context, table.name, ALERT_VOLUME_CHECK):
                yield alert_volume(table.name, refreshed.before, refreshed.total)
        yield from unique_key_results(context, conn, SCENARIO_KEYS, SCENARIO_CHECK)
