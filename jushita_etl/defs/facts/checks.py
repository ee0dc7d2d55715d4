"""Fact checks: one row per key, and the reconciliation invariant of the contract §5 on the published file."""

import dagster as dg

from jushita_etl.defs.quality import unique_key_checks
from jushita_etl.defs.resources import WarehouseResource
from jushita_etl.warehouse import steps

# fact_rating_impressions has no unique key: one rating may list the same impression item twice, and each listed
# item is a row (contract §4.5), so two rows can be equal in every column.
FACT_KEYS = {
    "fact_orders": "tid",
    "fact_refunds": "refund_id",
    "dim_items": "num_iid",
    "fact_shipments": "tid, out_sid",
}


fact_checks = unique_key_checks(FACT_KEYS, "unique_key", "facts")


@dg.asset_check(asset="published_warehouse", description="deliveries = event rows + duplicates + quarantined + "
                "unmodelled, over distinct mq_msg_id, in the file analysts read.")
def reconciliation(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    from jushita_etl.warehouse import db

    conn = db.reader(warehouse.paths)
    try:
        result = steps.reconcile(conn)
    finally:
        conn.close()
    return dg.AssetCheckResult(passed=result.holds, description=result.line(), metadata={
        "deliveries": result.deliveries, "events": result.events, "duplicates": result.duplicates,
        "quarantined": result.quarantined, "unmodelled": result.unmodelled})
