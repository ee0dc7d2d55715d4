"""The consumer's check: ``consumer_connected`` on ``raw_messages``, red with the one-line reason when the name
server or broker cannot be reached, the topic is unknown or the credentials are refused. Consume runs evaluate it
when they start and while they consume (``jobs.py``); executing it in the UI probes the name server now."""

import dagster as dg

from jushita_etl.defs.landing.checks import CONSUMER_CHECK
from jushita_etl.defs.resources import MQResource
from jushita_etl.mq.remoting import ProbeError, probe_route


def probe_consumer(mq: MQResource) -> str | None:
    """Why the consumer cannot work (one line), or None: the name server answers with a route for the topic, with
    the configured credentials."""
    settings = mq.settings()
    try:
        probe_route(settings.namesrv, settings.topic, access_key=settings.access_key, secret_key=settings.secret_key,
                    channel=settings.channel, topic_must_exist=True)
    except ProbeError as exc:
        return str(exc)
    return None


def _connected_description(mq: MQResource, reason: str | None) -> str:
    return reason or f"the name server at {mq.namesrv} routes topic {mq.topic} to group {mq.group}"


def _connected_metadata(mq: MQResource, reason: str | None) -> dict:
    return {"namesrv": mq.namesrv, "topic": mq.topic, "group": mq.group, "reason": reason or ""}


def consumer_evaluation(mq: MQResource, reason: str | None) -> dg.AssetCheckEvaluation:
    """The consumer_connected check's evaluation for a probe's outcome (``reason`` None: connected)."""
    return dg.AssetCheckEvaluation(asset_key=CONSUMER_CHECK.asset_key, check_name=CONSUMER_CHECK.name,
                                   passed=reason is None, severity=dg.AssetCheckSeverity.ERROR,
                                   description=_connected_description(mq, reason),
                                   metadata=_connected_metadata(mq, reason))


@dg.asset_check(asset="raw_messages", name=CONSUMER_CHECK.name, blocking=False,
                description="Red when the RocketMQ consumer cannot reach the name server or broker, the topic is "
                "unknown or the credentials are refused. Consume runs evaluate it when they start and while they run; "
                "executing it here probes the configured name server now.")
def consumer_connected(mq: MQResource) -> dg.AssetCheckResult:
    if not mq.configured:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="RocketMQ is not configured (JUSHITA_MQ_NAMESRV / _GROUP / _TOPIC)")
    reason = probe_consumer(mq)
    return dg.AssetCheckResult(passed=reason is None, severity=dg.AssetCheckSeverity.ERROR,
                               description=_connected_description(mq, reason), metadata=_connected_metadata(mq, reason))
