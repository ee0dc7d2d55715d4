"""Fact checks: one row per key (evaluated by ``fact_tables`` after each refold), and the reconciliation invariant
of the contract §5 on the snapshot being published (evaluated by ``published_warehouse`` as it publishes)."""

import dagster as dg

from jushita_etl.defs.quality import unique_key_specs
from jushita_etl.warehouse import steps

# fact_rating_impressions has no unique key: one rating may list the same impression item twice, and each listed
# item is a row (contract §4.5), so two rows can be equal in every column.
FACT_KEYS = {
    "fact_orders": "tid",
    "fact_refunds": "refund_id",
    "dim_items": "num_iid",
    "fact_shipments": "tid, out_sid",
}
FACT_CHECK = "unique_key"
fact_check_specs = unique_key_specs(FACT_KEYS, FACT_CHECK)

reconciliation_spec = dg.AssetCheckSpec(
    "reconciliation", asset="published_warehouse",
    description="deliveries = event rows + duplicates + quarantined + unmodelled, over distinct mq_msg_id: the tables "
    "of the snapshot analysts read, with what each ingest counted (etl.ingest_counts).")


def reconciliation_result(result: steps.Reconciliation) -> dg.AssetCheckResult:
    """The invariant as counted on the snapshot being published (``published_warehouse``)."""
    return dg.AssetCheckResult(
        check_name=reconciliation_spec.name, passed=result.holds, description=result.line(), metadata={
            "deliveries": result.deliveries, "events": result.events, "duplicates": result.duplicates,
            "quarantined": result.quarantined, "unmodelled": result.unmodelled})
