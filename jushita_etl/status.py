"""``jushita-etl status``: what an operator needs to know at a glance, and whether something needs a person.

Read from the data directory (consumers' logs, landing zone), the lakehouse (what is built and published) and the
Dagster instance (the last runs), never written to. Each problem is one line; ``problems`` empty means all is well.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import dagster as dg

from jushita_etl.landing.batches import china_now
from jushita_etl.settings import Paths
from jushita_etl.warehouse import lake, unreadable
from jushita_etl.warehouse.plan import plan

BACKLOG_ALARM = timedelta(minutes=10)  # landed data not visible to analysts after this long needs a person
QUARANTINE_WARN_RATE = float(os.environ.get("JUSHITA_QUARANTINE_WARN_RATE", "0.01"))


@dataclass
class Status:
    consumers: list[dict] = field(default_factory=list)  # one per consumer log here: alive, last landed
    backlog_batches: int = 0  # landed, not built yet
    unreadable_batches: list[str] = field(default_factory=list)  # landed batches set aside, not yet repaired
    oldest_unbuilt_landed_at: str | None = None
    last_published_at: str | None = None  # China time
    watermark: str | None = None  # newest pub_time in the published build
    watermark_lag_hours: float | None = None  # the clock (China time) minus the watermark
    deliveries: int = 0
    quarantine_rate: float | None = None
    open_alerts: dict[str, int] = field(default_factory=dict)
    last_runs: dict[str, dict] = field(default_factory=dict)  # job -> status, seconds, ended (the Dagster instance)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def collect(paths: Paths, instance=None) -> Status:
    status = Status()
    _consumers(paths, status)
    try:
        published = lake.reader(paths)
    except lake.NoWarehouseYet:
        status.problems.append("no build has been published yet: run `jushita-etl build` or start `jushita-etl ui`")
        published = None
    if published is not None:
        try:
            _published(published, status)
        finally:
            published.close()
        latest = lake.latest_reader(paths)
        try:
            _backlog(latest, paths, status)
        finally:
            latest.close()
    if instance is not None:
        _runs(instance, status)
    return status


def _consumers(paths: Paths, status: Status) -> None:
    """Each consumer's log directory: alive while its owner holds the lock; last landed = its newest segment."""
    wal = paths.landing / "wal"
    for directory in sorted(wal.iterdir()) if wal.is_dir() else []:
        lock_path = directory / "owner.lock"
        if not lock_path.exists():
            continue
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
                alive = False
            except BlockingIOError:
                alive = True
        files = [p for p in directory.iterdir() if p.suffix == ".wal"]
        last = max((p.stat().st_mtime for p in files), default=None)
        status.consumers.append({"log": directory.name, "alive": alive,
                                 "last_landed": _china(last) if last else None})
        if not alive:
            status.problems.append(f"consumer log {directory.name} has no live owner: the consumer died; "
                                   "its deliveries are landed by the next consumer start or build")


def _published(conn, status: Status) -> None:
    w = conn.execute("SELECT w FROM watermark").fetchone()[0]
    if w is not None:
        status.watermark = str(w)
        status.watermark_lag_hours = round((china_now() - w).total_seconds() / 3600, 2)
    deliveries = conn.execute("SELECT coalesce(sum(deliveries), 0) FROM etl.ingest_counts").fetchone()[0]
    quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    status.deliveries = int(deliveries)
    status.quarantine_rate = round(quarantined / deliveries, 5) if deliveries else 0.0
    if status.quarantine_rate > QUARANTINE_WARN_RATE:
        status.problems.append(f"{status.quarantine_rate:.2%} of deliveries are quarantined "
                               f"(above {QUARANTINE_WARN_RATE:.0%}): see `jushita-etl sql \"FROM quarantine\"`")
    status.open_alerts = {str(k): n for k, n in conn.execute(
        "SELECT alert_type, count(*) FROM shipment_alerts GROUP BY 1 UNION ALL "
        "SELECT 'refund_interception', count(*) FROM refund_interceptions ORDER BY 1").fetchall() if n}


def _backlog(conn, paths: Paths, status: Status) -> None:
    """Landed but not built: batches not ingested, and anything ingested after the last publish."""
    # (the published snapshot itself predates the row that records it: the publish commits right after it)
    status.last_published_at = _from_utc(conn.execute("SELECT max(published_at) FROM etl.published").fetchone()[0])
    work = plan(conn, paths.landing)
    status.backlog_batches = work.new_batches
    for batch in unreadable.unresolved(conn):
        status.unreadable_batches.append(batch.batch_id)
        status.problems.append(f"{batch.line()}; land its source again (docs/runbook.md)")
    oldest = conn.execute("SELECT min(landed_at) FROM etl.landed_batches WHERE batch_id NOT IN "
                          "(SELECT batch_id FROM etl.ingested_batches)").fetchone()[0]
    if oldest is not None:
        status.oldest_unbuilt_landed_at = _from_utc(oldest)
        if datetime.utcnow() - oldest > BACKLOG_ALARM:
            status.problems.append(f"landed data waits to be built since {status.oldest_unbuilt_landed_at}: is the "
                                   "Dagster daemon running (`jushita-etl ui`)?")


def _runs(instance, status: Status) -> None:
    for job in ("warehouse_job", "facts_job", "consume_job"):
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=job), limit=1)
        if not records:
            continue
        record = records[0]
        started, ended = record.start_time, record.end_time
        status.last_runs[job] = {
            "status": record.dagster_run.status.value,
            "seconds": round(ended - started, 1) if started and ended else None,
            "ended": _china(ended) if ended else None,
        }
        if record.dagster_run.status == dg.DagsterRunStatus.FAILURE:
            status.problems.append(f"the last {job} run failed: see run {record.dagster_run.run_id[:8]} in the UI")


def _china(epoch_seconds: float) -> str:
    return (datetime.utcfromtimestamp(epoch_seconds) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def _from_utc(value: datetime | None) -> str | None:
    return (value + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S") if value else None
