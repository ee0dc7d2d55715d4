"""``consume_sensor``: keeps a consumer attached while RocketMQ is configured, one bounded consume run after
another, each successor launched before its predecessor stops (see ``jobs.py``)."""

import os
import time

import dagster as dg

from jushita_etl.defs.mq.jobs import CONSUMING_UNTIL_TAG, HANDOVER_LEAD, REPLACES_TAG, consume_job
from jushita_etl.defs.resources import MQResource


@dg.sensor(job=consume_job, minimum_interval_seconds=5,
           default_status=dg.DefaultSensorStatus.RUNNING if os.environ.get("JUSHITA_MQ_NAMESRV") else dg.DefaultSensorStatus.STOPPED)
def consume_sensor(context: dg.SensorEvaluationContext, mq: MQResource):
    """Keep a consumer attached: launch a consume run when none is queued or running, and a run's successor
    ``HANDOVER_LEAD`` seconds before its consumer is due to stop (the successor takes over the group's lock)."""
    if not mq.configured:
        return dg.SkipReason("RocketMQ is not configured (JUSHITA_MQ_NAMESRV / _GROUP / _TOPIC)")
    active = context.instance.get_runs(filters=dg.RunsFilter(
        job_name=consume_job.name,
        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                  dg.DagsterRunStatus.STARTED]), limit=2)
    if not active:
        return dg.RunRequest()
    run = active[0]
    if len(active) > 1 or run.status != dg.DagsterRunStatus.STARTED or CONSUMING_UNTIL_TAG not in run.tags:
        return dg.SkipReason(f"consume run {run.run_id} is still going")
    remaining = float(run.tags[CONSUMING_UNTIL_TAG]) - time.time()
    if remaining > HANDOVER_LEAD:
        return dg.SkipReason(f"consume run {run.run_id} consumes for {remaining:.0f} s more; its successor starts "
                             f"{HANDOVER_LEAD:.0f} s before it stops")
    if context.instance.get_runs(filters=dg.RunsFilter(job_name=consume_job.name, tags={REPLACES_TAG: run.run_id}),
                                 limit=1):
        return dg.SkipReason(f"consume run {run.run_id} already has its successor")
    # the successor waits for the lock until the predecessor is due to stop, plus a minute for its shutdown; past
    # that it fails saying who holds the lock (a stuck predecessor gets one successor, not one per tick)
    wait = round(max(remaining, 0.0) + 60.0, 1)
    return dg.RunRequest(run_config={"ops": {"consume_bounded": {"config": {"wait_for_group": wait}}}},
                         tags={REPLACES_TAG: run.run_id})
