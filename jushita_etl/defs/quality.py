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


def duplicated_keys(conn: duckdb.DuckDBPyConnection, table: str, key: str) -> int:
    """How many values of the key columns ``key`` occur in more than one row of ``table``."""
    return conn.execute(
        f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]


def unique_key_result(table: str, name: str, duplicated: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=table, check_name=name, passed=duplicated == 0,
                               metadata={"duplicated_keys": duplicated})


def is_selected(context: dg.AssetExecutionContext, table: str, name: str) -> bool:
    return dg.AssetCheckKey(dg.AssetKey(table), name) in context.selected_asset_check_keys


def unique_key_results(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, keys: dict[str, str],
                       name: str) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of ``unique_key_specs(keys, name)``, evaluated on the writer connection."""
    for table, key in keys.items():
        if is_selected(context, table, name):
            yield unique_key_result(table, name, duplicated_keys(conn, table, key))
