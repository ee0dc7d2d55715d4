"""The operator's mode as it runs: `jushita-etl ui` on a fresh instance builds landed data with no action in the UI
and stops with every process it started on SIGTERM; a consumer that cannot reach its broker fails its run with the
reason, its consumer_connected check turns red, and `jushita-etl status` says that something needs a person."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
from mq_support import BrokerProcess, wait_for
from support import delivery, envelope, write_replay

import jushita_etl
from jushita_etl.landing.replay import land_files
from jushita_etl.defs.landing.checks import CONSUMER_CHECK
from jushita_etl.defs.mq.jobs import consume_job
from jushita_etl.defs.resources import MQResource, WarehouseResource

CLI = [sys.executable, "-m", "jushita_etl.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def trades_visible(data: Path) -> int:
    try:
        conn = jushita_etl.connect(data)
    except Exception:  # noqa: BLE001 - nothing published yet
        return 0
    try:
        return conn.execute("SELECT count(*) FROM trade_events").fetchone()[0]
    finally:
        conn.close()


def test_ui_builds_landed_data_unattended_and_stops_on_sigterm(tmp_path):
    data, home = tmp_path / "data", tmp_path / "home"
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "JUSHITA_PARTITION_START": "2026-11-01"}
    proc = subprocess.Popen([*CLI, "ui", "--data-dir", str(data), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 10 + i}, pub_time=f"2026-11-{9 + i:02d} 10:00:00"))
                   for i in range(3)]
        land_files([str(write_replay(tmp_path / "f.jsonl", records))], data / "landing", quiet=True)
        deadline = time.monotonic() + 240
        while trades_visible(data) < 3 and time.monotonic() < deadline:
            time.sleep(1)
        assert trades_visible(data) == 3, "the landing sensor built and published the landed batch by itself"
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        while group_alive(proc.pid) and time.monotonic() - started < 15:
            time.sleep(0.2)
        stopped_in = time.monotonic() - started
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert stopped_in < 10, f"every process of the UI stopped within 10 s (took {stopped_in:.1f} s)"


def test_consumer_without_a_broker_fails_its_run_with_the_reason(tmp_path, instance):
    port = free_port()  # nothing listens there
    resources = {"warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
                 "mq": MQResource(namesrv=f"127.0.0.1:{port}", group="G", topic="T")}
    result = consume_job.execute_in_process(instance=instance, resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "consumer cannot start" in message and f"127.0.0.1:{port}" in message

    status = subprocess.run([*CLI, "status", "--data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                            env={**os.environ, "DAGSTER_HOME": instance.root_directory}, timeout=120)
    assert status.returncode == 1
    assert "the last consume_job run failed" in status.stdout


def consumer_check(instance) -> dg.AssetCheckEvaluation | None:
    """The latest evaluation of raw_messages' consumer_connected check, as the UI shows it."""
    record = instance.get_latest_asset_check_evaluation_record(CONSUMER_CHECK)
    return record.event.dagster_event.event_specific_data if record and record.event else None


def test_consumer_connected_check_is_red_without_a_broker_and_green_with_one(tmp_path, instance):
    warehouse = WarehouseResource(data_dir=str(tmp_path / "data"))
    port = free_port()  # nothing listens there
    dead = {"warehouse": warehouse, "mq": MQResource(namesrv=f"127.0.0.1:{port}", group="G", topic="T")}
    assert not consume_job.execute_in_process(instance=instance, resources=dead, raise_on_error=False).success
    check = consumer_check(instance)
    assert check is not None and not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description.startswith(f"cannot reach the RocketMQ name server at 127.0.0.1:{port}")

    broker = BrokerProcess()
    try:  # a live broker: green when the run starts; red within a probe interval of the broker going away
        live = {"warehouse": warehouse, "mq": MQResource(namesrv=broker.address, group="G", topic="T")}
        seen = []

        def watch():
            seen.append(wait_for(lambda: (c := consumer_check(instance)) is not None and c.passed, 30))
            broker.stop()
            seen.append(wait_for(lambda: not consumer_check(instance).passed, 15))

        watcher = threading.Thread(target=watch)
        watcher.start()
        config = {"ops": {"consume_bounded": {"config": {"max_seconds": 6, "probe_every": 0.5}}}}
        result = consume_job.execute_in_process(instance=instance, resources=live, run_config=config)
        watcher.join(timeout=60)
        assert result.success
        assert seen == [True, True], "green while the broker answered, red once it was gone"
        check = consumer_check(instance)
        assert check.severity == dg.AssetCheckSeverity.ERROR and broker.address in check.description
    finally:
        broker.stop()
