"""Fact checks: one row per key (evaluated by ``fact_tables`` after each refold), and the reconciliation invariant
of the contract §5 on the snapshot being published (evaluated by ``published_warehouse`` as it publishes)."""

import dagster as dg

from jushita_etl.defs.quality import unique_key_specs
from jushita_etl.warehouse import steps, tables

# the facts with a unique key (fact_rating_impressions has none, see sql/tables.yml)
FACT_KEYS = {table.name: table.key_text for table in tables.of_kind("facts") if table.key}
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
