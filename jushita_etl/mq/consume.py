"""A consume session: the RocketMQ consumer landing into the durable log until stopped or a bound is reached.

Used by ``jushita-etl consume`` (the daemon, unbounded by default) and by the Dagster consume job (bounded)."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from jushita_etl.holder import holder, try_hold
from jushita_etl.landing.wal import DurableLog, SegmentLog
from jushita_etl.landing.writer import use_system_allocator
from jushita_etl.mq.settings import MQSettings
from jushita_etl.mq.landing_callback import NativeLandingLog
from jushita_etl.mq.source import MQConsumer
from jushita_etl.native import NativeUnavailable
from jushita_etl.settings import Paths


@dataclass
class Bounds:
    max_messages: int | None = None
    idle_timeout: float | None = None
    duration: float | None = None


@dataclass
class ConsumeReport:
    landed: int
    failed: int
    seconds: float
    active_seconds: float
    batches: int
    recovered: int
    stopped_by: str

    @property
    def rate(self) -> float:
        return self.landed / self.active_seconds if self.active_seconds > 0 else 0.0


def open_log(landing: Path) -> SegmentLog:
    """The native landing log when it can be built here, else the Python one (same records, lower rate)."""
    try:
        return NativeLandingLog(landing)
    except NativeUnavailable as exc:
        print(f"note: {exc}; landing through the Python callback", file=sys.stderr)
        return DurableLog(landing)


class ConsumerBusy(RuntimeError):
    """Another consumer of the same group already lands into this data directory."""


def hold_group(paths: Paths, group: str, wait: float = 0.0):
    """The group's lock in this data directory: one consumer per group and data directory (a second one would
    only split the queues with the first on the same disk, or, broadcasting, land everything twice; more
    ``--threads`` is the way to more throughput). Groups of their own (a big customer's) land side by side.

    ``wait`` > 0 only for a consumer that replaces one about to end (consume_sensor's successor run): it takes the
    lock the moment the predecessor releases it, polling every 20 ms, and refuses like any other after ``wait``
    seconds. A consumer started by hand refuses at once (``wait`` 0)."""
    path = paths.landing / "consumers" / (re.sub(r"[^A-Za-z0-9_.-]", "_", group) + ".lock")
    deadline = time.monotonic() + wait
    while (lock := try_hold(path, f"consumer of group {group}")) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if lock is None:
        raise ConsumerBusy(f"another consumer of group {group} already lands into {paths.data_dir}: {holder(path)}; "
                           "run one consumer per group and data directory (give it more --threads instead)")
    return lock


def run_consumer(settings: MQSettings, paths: Paths, bounds: Bounds, *, stop: threading.Event | None = None,
                 log_level: str = "warn", handle_signals: bool = False, on_progress=None,
                 wait_for_group: float = 0.0, on_consuming=None) -> ConsumeReport:
    """Consume into the landing zone of ``paths`` until a bound or ``stop``. ``wait_for_group``: seconds to wait
    for the group's lock (see hold_group); ``on_consuming()`` is called once the client has started."""
    group_lock = hold_group(paths, settings.group, wait=wait_for_group)
    try:
        return _consume(settings, paths, bounds, stop=stop, log_level=log_level, handle_signals=handle_signals,
                        on_progress=on_progress, on_consuming=on_consuming)
    finally:
        group_lock.close()


def _consume(settings: MQSettings, paths: Paths, bounds: Bounds, *, stop: threading.Event | None,
             log_level: str, handle_signals: bool, on_progress, on_consuming=None) -> ConsumeReport:
    stop = stop or threading.Event()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    use_system_allocator()
    log = open_log(paths.landing)
    consumer = MQConsumer(settings, log, log_dir=paths.logs / "rocketmq", log_level=log_level)
    started = time.monotonic()
    consumer.start()
    stopped_by = "signal"
    try:
        if on_consuming:
            on_consuming()
        while not stop.wait(0.1):
            now = time.monotonic()
            stats = consumer.stats
            if bounds.max_messages is not None and stats.landed >= bounds.max_messages:
                stopped_by = "max-messages"
                break
            if bounds.duration is not None and now - started >= bounds.duration:
                stopped_by = "duration"
                break
            if bounds.idle_timeout is not None and now - (stats.last_at or started) >= bounds.idle_timeout:
                stopped_by = "idle"
                break
            if log.failed:  # nothing more can be made durable: stop, so nothing more is taken from the broker
                stopped_by = "landing log failed"
                break
            if on_progress:
                on_progress(stats)
    finally:
        _stop(consumer, log)
    stats = consumer.stats
    active = (stats.last_at - stats.first_at) if stats.first_at and stats.last_at and stats.last_at > stats.first_at else 0.0
    return ConsumeReport(landed=stats.landed, failed=stats.failed, seconds=time.monotonic() - started,
                         active_seconds=active, batches=len(log.committed), recovered=log.recovered,
                         stopped_by=stopped_by)


def _stop(consumer: MQConsumer, log) -> None:
    """Stop pulling, let in-flight callbacks finish, then flush and compact the log into Parquet. A log whose writer
    failed (before or during the shutdown) has consume threads holding what it refused: the client is abandoned
    instead, and the log's failure raised."""
    if not log.refusing:
        # the client's shutdown waits for every consume thread: a thread that starts holding meanwhile (the disk
        # filled during the last sync) would keep it waiting for good, so it runs aside and is watched
        failed: list[BaseException] = []
        stopping = threading.Thread(target=_shut_down, args=(consumer, failed), name="client-shutdown", daemon=True)
        stopping.start()
        while stopping.is_alive() and not log.refusing:
            stopping.join(0.05)
        if not stopping.is_alive() and not failed:
            log.close()
            return
        if failed and not log.refusing:
            # a client whose shutdown failed may still pull: its log stays open (what it lands is durable before it
            # is acknowledged, and the next start recovers it), and the process ends as a held one does
            consumer.abandon()
            raise RuntimeError(f"the RocketMQ client did not shut down: {failed[0]}") from failed[0]
    consumer.abandon()
    log.abandon()


def _shut_down(consumer: MQConsumer, failed: list) -> None:
    try:
        consumer.shutdown()
    except BaseException as exc:  # noqa: BLE001 - _stop decides what follows
        failed.append(exc)
