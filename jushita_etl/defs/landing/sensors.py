"""The landing sensor: turns newly landed data into one build run, planned from the warehouse's own state.

Each tick asks the planner (warehouse/plan.py, the same one `jushita-etl build` uses) whether there is work: new
landed batches, event changes to report, keys to refold, an unpublished commit. If there is, and no build is already waiting
to start, it requests one run of warehouse_job (ingest, events, facts, scenarios, checks, publish) over the event
dates of the plan; while a run is waiting, ticks leave the work to it, so at most one run is queued however fast
data lands. While a build or a maintenance pass runs (started less than UNDER_WAY_AT_MOST ago), only new batches
make a run: the rest of what a tick sees then (the run's own commits not yet published, its keys not yet refolded)
is the running one's to finish, and whatever it leaves is planned at the first tick after it. No cursor: a CLI
build in between simply leaves nothing to plan.
"""


from datetime import datetime, timedelta, timezone

import dagster as dg

from jushita_etl.defs.jobs import facts_job, maintenance_job, warehouse_job
from jushita_etl.defs.landing.checks import freshness_checks
from jushita_etl.defs.partitions import partition_key_for
from jushita_etl.defs.resources import WarehouseResource

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
WRITING_JOBS = [warehouse_job.name, facts_job.name, maintenance_job.name]
# A started run older than this is not taken for one under way: a build killed with its process (kill -9, a reboot)
# stays "started" in the instance, and its leftovers must not wait for new batches. Builds take seconds; a longer
# one only costs a queued run that waits for the writer.
UNDER_WAY_AT_MOST = timedelta(minutes=15)

freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks)
"""Evaluates the freshness check of ``raw_messages`` (deliveries keep arriving)."""


def _any_run(instance: dg.DagsterInstance, jobs: list[str], statuses: list[dg.DagsterRunStatus],
             created_after: datetime | None = None) -> bool:
    """Whether a run of one of ``jobs`` is in one of ``statuses`` (created after ``created_after``, when given)."""
    return any(instance.get_runs_count(dg.RunsFilter(job_name=job, statuses=statuses, created_after=created_after))
               for job in jobs)


@dg.sensor(jobs=[warehouse_job, facts_job], minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """One build run when there is work and none is waiting to start."""
    if _any_run(context.instance, [warehouse_job.name, facts_job.name], WAITING):
        return dg.SkipReason("a build is already waiting to start; new work joins it")
    plan = warehouse.plan()
    if not plan.anything:
        return dg.SkipReason("nothing new to build")
    if not plan.new_batches and _any_run(context.instance, WRITING_JOBS, [dg.DagsterRunStatus.STARTED],
                                         created_after=datetime.now(timezone.utc) - UNDER_WAY_AT_MOST):
        return dg.SkipReason("a run writing the warehouse is under way; it publishes what it committed")
    tags = {"jushita/new_batches": str(plan.new_batches)}
    if not plan.dates:  # redeliveries only, keys to refold, or an unpublished commit: no event partition changes
        return dg.RunRequest(job_name=facts_job.name, tags=tags)
    first, last = partition_key_for(plan.dates[0]), partition_key_for(plan.dates[-1])
    return dg.RunRequest(job_name=warehouse_job.name, tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last})
