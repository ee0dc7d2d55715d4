"""Landing checks: how much input is quarantined and whether every landed batch could be read (both evaluated by
``ingest_landing`` after each ingest), whether deliveries keep arriving, and whether the consumer can reach its
broker (``consumer_connected``, defined in ``defs/mq/checks.py`` and evaluated by the consume runs)."""

import os
from datetime import timedelta

import dagster as dg

from jushita_etl.warehouse.unreadable import UnreadableBatch

QUARANTINE_WARN_RATE = float(os.environ.get("JUSHITA_QUARANTINE_WARN_RATE", "0.01"))

quarantine_rate_spec = dg.AssetCheckSpec(
    "quarantine_rate", asset="quarantine", description=f"Warns when more than {QUARANTINE_WARN_RATE:.1%} of "
    "distinct deliveries are quarantined ($JUSHITA_QUARANTINE_WARN_RATE).")


def quarantine_rate(by_reason: dict[str, int], deliveries: int) -> dg.AssetCheckResult:
    """The check from what ingest_landing has just counted: quarantined rows by reason, and distinct deliveries."""
    quarantined = sum(by_reason.values())
    rate = quarantined / deliveries if deliveries else 0.0
    return dg.AssetCheckResult(asset_key=quarantine_rate_spec.asset_key, check_name=quarantine_rate_spec.name,
                               passed=rate <= QUARANTINE_WARN_RATE,
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"rate": round(rate, 5), "quarantined": quarantined, "by_reason": by_reason})


CONSUMER_CHECK = dg.AssetCheckKey(dg.AssetKey("raw_messages"), "consumer_connected")

freshness_checks = dg.build_last_update_freshness_checks(assets=["raw_messages"], lower_bound_delta=timedelta(hours=2))


readable_spec = dg.AssetCheckSpec(
    "landed_batches_readable", asset="raw_messages", description="Fails while a landed batch that could not be "
    "read (truncated, empty, not Parquet, wrong columns) waits for repair: it was set aside and its deliveries are "
    "missing from the warehouse until its source is landed again (docs/runbook.md).")


def landed_batches_readable(waiting: list[UnreadableBatch]) -> dg.AssetCheckResult:
    """The check from the unreadable batches not yet repaired (``unreadable.unresolved``)."""
    return dg.AssetCheckResult(
        asset_key=readable_spec.asset_key, check_name=readable_spec.name, passed=not waiting,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(batch.line() for batch in waiting) or "every landed batch was read",
        metadata={"unreadable_batches": len(waiting),
                  "batches": [{"batch_id": b.batch_id, "file": b.moved_to or b.file, "rows": b.rows,
                               "error": b.error} for b in waiting]})
