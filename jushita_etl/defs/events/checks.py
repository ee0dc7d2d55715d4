"""Event-table checks: at most one row per platform message."""

import dagster as dg

from jushita_etl.defs.resources import WarehouseResource
from jushita_etl.warehouse import steps


def _unique_message_id(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name="unique_message_id", description=f"{table} holds at most one row per message_id.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.writer() as conn:
            duplicated = conn.execute(
                f"SELECT count(*) FROM (SELECT message_id FROM {table} GROUP BY 1 HAVING count(*) > 1)").fetchone()[0]
        return dg.AssetCheckResult(passed=duplicated == 0, metadata={"duplicated_ids": duplicated})

    return _check


event_checks = [_unique_message_id(table.name) for table in steps.EVENT_TABLES]
