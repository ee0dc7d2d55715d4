"""The uniqueness check shared by the event and fact domains: one row per key."""

import dagster as dg

from jushita_etl.defs.resources import WarehouseResource


def unique_key_check(table: str, key: str, name: str = "unique_key") -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name=name, description=f"{table} holds at most one row per ({key}).")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.writer() as conn:
            duplicated = conn.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        return dg.AssetCheckResult(passed=duplicated == 0, metadata={"duplicated_keys": duplicated})

    return _check
