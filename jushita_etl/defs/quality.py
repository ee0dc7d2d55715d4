"""The uniqueness checks shared by the event and fact domains: one row per key.

They are evaluated inside the step that writes the tables (``check_specs`` of its multi-asset) rather than as
steps of their own: each step is a dozen events in the instance's SQLite, and these queries take milliseconds."""

from collections.abc import Iterator

import dagster as dg
import duckdb


def unique_key_specs(keys: dict[str, str], name: str) -> list[dg.AssetCheckSpec]:
    """One check per table (``keys``: table -> key columns)."""
    return [dg.AssetCheckSpec(name, asset=table, description=f"{table} holds at most one row per ({key}).")
            for table, key in keys.items()]


def unique_key_results(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, keys: dict[str, str],
                       name: str) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of ``unique_key_specs(keys, name)``, evaluated on the writer connection."""
    for table, key in keys.items():
        if dg.AssetCheckKey(dg.AssetKey(table), name) not in context.selected_asset_check_keys:
            continue
        duplicated = conn.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        yield dg.AssetCheckResult(asset_key=table, check_name=name, passed=duplicated == 0,
                                  metadata={"duplicated_keys": duplicated})
