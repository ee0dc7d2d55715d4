"""Sensor-driven, bounded consume runs: the RocketMQ consumer lands deliveries for up to ``max_seconds`` or until
the queue is idle, then the run ends with its numbers. The landing sensor picks the new batches up from there.

Runs hand over without a gap: ``HANDOVER_LEAD`` seconds before a run's consumer is due to stop, the sensor launches
its successor, which probes the broker and then waits (bounded) for the group's lock in the data directory, starting
its client the moment the predecessor has stopped pulling, landed what it took and released the lock. Only the
successor waits; a consumer started by hand still refuses at once.

Each run probes the name server before it starts the client, and again every ``probe_every`` seconds while it
consumes; the result is the ``consumer_connected`` check of ``raw_messages`` (red, with the one-line reason, when
the name server or broker cannot be reached, the topic is unknown or the credentials are refused).

Imported on use: the consumer (``mq.consume``), which brings pyarrow and numpy (0.13 s) into every process that
loads the code location, ``jushita-etl build`` included."""

import os
import time

import dagster as dg

from jushita_etl.defs.mq.checks import consumer_evaluation, probe_consumer
from jushita_etl.defs.resources import MQResource, WarehouseResource
from jushita_etl.warehouse.landed import Shipper


def _run_seconds() -> float:
    """$JUSHITA_MQ_RUN_SECONDS, read when the code location loads: how long a consume run consumes (default an hour)."""
    value = os.environ.get("JUSHITA_MQ_RUN_SECONDS", "").strip()
    try:
        seconds = float(value) if value else 3600.0
    except ValueError:
        raise ValueError(f"JUSHITA_MQ_RUN_SECONDS must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise ValueError(f"JUSHITA_MQ_RUN_SECONDS must be positive, not {value!r}")
    return seconds


class ConsumeConfig(dg.Config):
    max_seconds: float = _run_seconds()
    """A run consumes for an hour ($JUSHITA_MQ_RUN_SECONDS), then the sensor starts the next one within seconds
    (its records stay bounded)."""
    idle_timeout: float = 0.0
    """0: an idle queue does not end the run (a consumer is always attached while the sensor is on)."""
    max_messages: int = 0
    probe_every: float = 30.0
    """Seconds between probes of the name server while the run consumes (the consumer_connected check)."""
    wait_for_group: float = 0.0
    """Seconds to wait for the group's lock held by the run this one replaces (set by consume_sensor on a successor;
    0: refuse at once when another consumer of the group lands into this data directory)."""


HANDOVER_LEAD = 30.0
"""Seconds before a consume run is due to stop that the sensor launches its successor: enough for the run worker to
start and load the code on a busy 2-core machine (5-15 s), so the successor already waits for the lock."""
CONSUMING_UNTIL_TAG = "jushita/consuming_until"
"""Set by a consume run once its client has started: when (epoch seconds) its consumer is due to stop."""
REPLACES_TAG = "jushita/replaces"
"""On a successor run: the run it replaces (one successor per run, also when it failed)."""


class _Health:
    """Probes while a run consumes and reports the check when the outcome changes (the C++ client only logs a lost
    broker and keeps retrying, so without this a consumer whose broker died would look healthy for an hour)."""

    def __init__(self, context: dg.OpExecutionContext, mq: MQResource, every: float, reason: str | None):
        self.context, self.mq, self.every = context, mq, every
        self.reason, self.probed = reason, time.monotonic()

    def tick(self) -> None:
        if self.every <= 0 or time.monotonic() - self.probed < self.every:
            return
        reason = probe_consumer(self.mq)
        self.probed = time.monotonic()
        if reason != self.reason:
            self.reason = reason
            self.context.instance.report_runless_asset_event(consumer_evaluation(self.mq, reason))
            if reason:
                self.context.log.warning(f"consumer lost its broker: {reason}")
            else:
                self.context.log.info("consumer reaches its broker again")


@dg.op
def consume_bounded(context: dg.OpExecutionContext, config: ConsumeConfig, warehouse: WarehouseResource, mq: MQResource):
    """Consume until idle or the time limit, landing every delivery durably before acknowledging it."""
    if not mq.configured:
        raise dg.Failure("RocketMQ is not configured: set JUSHITA_MQ_NAMESRV, JUSHITA_MQ_GROUP and JUSHITA_MQ_TOPIC")
    from jushita_etl.mq.consume import Bounds, run_consumer

    # an unreachable name server or broker, a missing topic or refused credentials: the check turns red and the run
    # fails, both saying why
    reason = probe_consumer(mq)
    context.instance.report_runless_asset_event(consumer_evaluation(mq, reason))
    if reason:
        raise dg.Failure(f"consumer cannot start: {reason}")
    health = _Health(context, mq, config.probe_every, reason)
    shipper = Shipper(warehouse.paths)

    def progress(stats) -> None:
        shipper.tick(stats)
        health.tick()

    def consuming() -> None:  # the client has started: tell the sensor when to launch the successor
        if config.wait_for_group:
            context.log.info("took over the group's lock from the run this one replaces")
        try:
            context.instance.add_run_tags(context.run_id,
                                          {CONSUMING_UNTIL_TAG: f"{time.time() + config.max_seconds:.1f}"})
        except Exception as exc:  # noqa: BLE001 - without the tag the sensor relaunches after the end, as before
            context.log.warning(f"could not tag the run for its successor ({exc}); the next run starts after this one")

    report = run_consumer(mq.settings(), warehouse.paths,
                          Bounds(max_messages=config.max_messages or None, idle_timeout=config.idle_timeout or None,
                                 duration=config.max_seconds), on_progress=progress,
                          wait_for_group=config.wait_for_group, on_consuming=consuming)
    shipper.final()
    context.log.info(f"landed {report.landed:,} deliveries, stopped by {report.stopped_by}")
    return dg.Output(report.landed, metadata={
        "deliveries_landed": report.landed, "rate_per_s": round(report.rate, 1), "batches": report.batches,
        "seconds": round(report.seconds, 1), "stopped_by": report.stopped_by, "recovered": report.recovered,
    })


@dg.job(description="A bounded RocketMQ consume session into the landing zone (launched by consume_sensor).")
def consume_job():
    consume_bounded()
