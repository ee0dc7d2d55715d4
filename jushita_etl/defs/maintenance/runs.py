"""The Dagster instance's run history, kept to a retention.

While data flows the landing sensor starts a build every few seconds, and each build records about 160 events
(0.4 MB of the instance's SQLite): up to 3 GB a day, kept forever by Dagster. Once an hour ``run_history_job`` deletes
the finished runs created more than the retention ago ($JUSHITA_RUN_RETENTION_DAYS, default 7 days), with their
events and captured logs, except a run that still holds the latest materialization of an asset or of one of its
partitions: the UI's partition status and each asset's last materialization are read from those.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from jushita_etl import settings

RETENTION_SETTING = "JUSHITA_RUN_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 7.0
PASS_LIMIT = 5_000
"""The oldest finished runs one pass looks at: a pass stays within a few minutes however long it was off, and an
hourly pass keeps up with a build every second."""
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def run_retention() -> timedelta:
    """$JUSHITA_RUN_RETENTION_DAYS as a duration (days, fractions allowed; default 7)."""
    return settings.retention(RETENTION_SETTING, DEFAULT_RETENTION_DAYS)


def prunable_runs(instance: dg.DagsterInstance, before: datetime, limit: int = PASS_LIMIT) -> list[str]:
    """The finished runs created before ``before`` (the oldest ``limit`` of them) whose every materialization was
    materialized again by a later run: those hold nothing the instance still reports."""
    latest: dict[tuple[dg.AssetKey, str | None], str | None] = {}

    def latest_run(key: dg.AssetKey, partition: str | None) -> str | None:
        if (key, partition) not in latest:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]) if partition else key,
                limit=1).records
            latest[(key, partition)] = records[0].run_id if records else None
        return latest[(key, partition)]

    prunable = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=FINISHED, created_before=before), limit=limit,
                                           order_by="create_timestamp", ascending=True):
        run_id = record.dagster_run.run_id
        materialized = [entry.dagster_event for entry in
                        instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
        if all(latest_run(event.asset_key, event.partition) != run_id for event in materialized):
            prunable.append(run_id)
    return prunable


@dg.op
def prune_run_history(context: dg.OpExecutionContext) -> dg.Output[int]:
    """Delete the prunable runs (``prunable_runs``) older than the retention, with their events and captured logs."""
    before = datetime.now(timezone.utc) - run_retention()
    run_ids = prunable_runs(context.instance, before)
    for run_id in run_ids:
        context.instance.delete_run(run_id)
        context.instance.compute_log_manager.delete_logs(prefix=[run_id])
    context.log.info(f"deleted {len(run_ids)} run(s) created before {before:%Y-%m-%d %H:%M} UTC")
    return dg.Output(len(run_ids), metadata={"deleted_runs": len(run_ids), "created_before": before.isoformat()})


@dg.job(description="Delete the finished runs older than $JUSHITA_RUN_RETENTION_DAYS (default 7) that hold no "
        "asset's or partition's latest materialization, with their events and captured logs.")
def run_history_job():
    prune_run_history()
