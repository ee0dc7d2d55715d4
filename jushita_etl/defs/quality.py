"""The uniqueness checks shared by the event and fact domains: one row per key."""

import dagster as dg

from jushita_etl.defs.resources import WarehouseResource


def unique_key_checks(keys: dict[str, str], name: str, domain: str) -> dg.AssetChecksDefinition:
    """One check per table (``keys``: table -> key columns), evaluated in a single step: each step is a handful
    of events in the instance's SQLite, and these queries take milliseconds."""
    specs = [dg.AssetCheckSpec(name, asset=table, description=f"{table} holds at most one row per ({key}).")
             for table, key in keys.items()]

    @dg.multi_asset_check(specs=specs, name=f"{domain}_unique_keys")
    def _checks(warehouse: WarehouseResource):
        with warehouse.writer() as conn:
            for table, key in keys.items():
                duplicated = conn.execute(
                    f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
                yield dg.AssetCheckResult(asset_key=table, check_name=name, passed=duplicated == 0,
                                          metadata={"duplicated_keys": duplicated})

    return _checks
