"""The asset jobs: what one run materializes. ``warehouse_job`` is the build (what the landing sensor and
``jushita-etl build`` run); ``facts_job`` the build when no event table changes; the others for backfills and
upkeep. Schedules are in schedules.py, sensors with their domain."""

import dagster as dg

from jushita_etl.defs.events.assets import event_tables
from jushita_etl.defs.facts.assets import fact_tables, published_warehouse
from jushita_etl.defs.landing.assets import ingest_landing
from jushita_etl.defs.landing.checks import CONSUMER_CHECK, freshness_checks
from jushita_etl.defs.maintenance.assets import lake_files
from jushita_etl.defs.partitions import DAILY

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.assets(ingest_landing) - dg.AssetSelection.checks(CONSUMER_CHECK),
    description="Ingest newly landed batches into raw_messages and quarantine.",
)


events_job = dg.define_asset_job(
    "events_job", selection=dg.AssetSelection.assets(event_tables), partitions_def=DAILY,
    description="Ingest and report the event tables' changed partitions (backfills of any range run as a single "
    "run); the landing sensor then folds and publishes them.",
)


# raw_messages' freshness check is its sensor's to evaluate (freshness_sensor): right after an ingest it could only
# pass, and as a step of its own it would cost these runs a dozen events in the instance's SQLite. Its
# consumer_connected check is the consume runs' (a build has no business probing the broker).
_SENSOR_CHECKS = dg.AssetSelection.checks(*freshness_checks, CONSUMER_CHECK)

facts_job = dg.define_asset_job(
    "facts_job",
    selection=(dg.AssetSelection.groups("landing", "scenarios")
               | dg.AssetSelection.assets(fact_tables, published_warehouse))
    - _SENSOR_CHECKS,
    description="Ingest new batches, refold the facts and scenario tables for touched keys and publish (for builds "
    "that change no event table).",
)

warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.groups("landing", "events", "facts", "scenarios") - _SENSOR_CHECKS,
    partitions_def=DAILY,
    description="Ingest new batches, apply their events, refold the facts and scenario tables they touch and "
    "publish, in one run (what `jushita-etl build` runs).",
)


maintenance_job = dg.define_asset_job("maintenance_job", selection=dg.AssetSelection.assets(lake_files),
                                      description="Merge, publish, thin the snapshots and clean up the lakehouse.")
