"""Landing checks: how much input is quarantined (evaluated by ``ingest_landing`` after each ingest), and
whether deliveries keep arriving."""

import os
from datetime import timedelta

import dagster as dg
import duckdb

QUARANTINE_WARN_RATE = float(os.environ.get("JUSHITA_QUARANTINE_WARN_RATE", "0.01"))

quarantine_rate_spec = dg.AssetCheckSpec(
    "quarantine_rate", asset="quarantine", description=f"Warns when more than {QUARANTINE_WARN_RATE:.1%} of "
    "distinct deliveries are quarantined ($JUSHITA_QUARANTINE_WARN_RATE).")


def quarantine_rate(conn: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    quarantined, deliveries = conn.execute(
        "SELECT (SELECT count(*) FROM quarantine), (SELECT count(*) FROM etl.deliveries)").fetchone()
    by_reason = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY 1").fetchall())
    rate = quarantined / deliveries if deliveries else 0.0
    return dg.AssetCheckResult(check_name=quarantine_rate_spec.name, passed=rate <= QUARANTINE_WARN_RATE,
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"rate": round(rate, 5), "quarantined": quarantined, "by_reason": by_reason})


freshness_checks = dg.build_last_update_freshness_checks(assets=["raw_messages"], lower_bound_delta=timedelta(hours=2))
freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks)
