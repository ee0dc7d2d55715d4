"""Scenario checks: one row per key (an error: the contract fixes the keys), and the alert volume (a warning when
an alert table grows by more than a share of its size in one build: a broken carrier feed, a stalled warehouse,
or thresholds set too low)."""

import os

import dagster as dg

from jushita_etl.defs.quality import unique_key_specs
from jushita_etl.warehouse.scenarios import ALERT_TABLES, SCENARIO_TABLES

SCENARIO_KEYS = {table.name: table.key for table in SCENARIO_TABLES}
SCENARIO_CHECK = "unique_key"
ALERT_GROWTH_WARN = float(os.environ.get("JUSHITA_ALERT_GROWTH_WARN", "0.5"))
ALERT_VOLUME_CHECK = "alert_volume"

scenario_check_specs = [
    *unique_key_specs(SCENARIO_KEYS, SCENARIO_CHECK),
    *[dg.AssetCheckSpec(ALERT_VOLUME_CHECK, asset=table, description=f"Warns when {table} grows by more than "
                        f"{ALERT_GROWTH_WARN:.0%} of its rows in one build ($JUSHITA_ALERT_GROWTH_WARN).")
      for table in ALERT_TABLES],
]


def alert_volume(table: str, before: int, after: int) -> dg.AssetCheckResult:
    """Growth of an alert table in one build. From empty, any number of alerts is a first build, not growth."""
    growth = (after - before) / before if before else 0.0
    return dg.AssetCheckResult(asset_key=table, check_name=ALERT_VOLUME_CHECK, passed=growth <= ALERT_GROWTH_WARN,
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"before": before, "after": after, "growth": round(growth, 4)})
