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


def duplicated_keys(conn: duckdb.DuckDBPyConnection, keys: dict[str, str]) -> dict[str, int]:
    """For each table of ``keys`` (table -> key columns), how many values of its key occur in more than one row.
    One statement for all the tables: each statement on the lake costs catalog work of its own."""
    if not keys:
        return {}
    slots = {f"t{i}": table for i, table in enumerate(keys)}
    counts = " UNION ALL ".join(
        f"SELECT ${slot}, count(*) FROM (SELECT {keys[table]} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
        for slot, table in slots.items())
    return dict(conn.execute(counts, slots).fetchall())


def unique_key_result(table: str, name: str, duplicated: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=table, check_name=name, passed=duplicated == 0,
                               metadata={"duplicated_keys": duplicated})


def is_selected(context: dg.AssetExecutionContext, table: str, name: str) -> bool:
    return dg.AssetCheckKey(dg.AssetKey(table), name) in context.selected_asset_check_keys


def unique_key_results(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, keys: dict[str, str],
                       name: str, counted: dict[str, int] | None = None) -> Iterator[dg.AssetCheckResult]:
    """The selected checks of ``unique_key_specs(keys, name)``, evaluated on the writer connection. ``counted``: the
    tables whose duplicated keys the step already counted (a refold that looked up the keys it wrote), the others
    are grouped whole."""
    counted = counted or {}
    selected = {table: key for table, key in keys.items() if is_selected(context, table, name)}
    duplicated = {**duplicated_keys(conn, {t: k for t, k in selected.items() if t not in counted}), **counted}
    for table in selected:
        yield unique_key_result(table, name, duplicated[table])
