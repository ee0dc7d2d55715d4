"""The Dagster code location loads, and its sensors ask for the right runs."""

import threading
import time
from datetime import timedelta

import dagster as dg
import pytest
from support import delivery, envelope, write_replay

from jushita_etl.landing.replay import land_files
from jushita_etl.defs.landing.checks import CONSUMER_CHECK
from jushita_etl.defs.landing import sensors
from jushita_etl.defs.landing.sensors import landing_sensor
from jushita_etl.defs.mq.jobs import CONSUMING_UNTIL_TAG, HANDOVER_LEAD, REPLACES_TAG
from jushita_etl.defs.mq.sensors import consume_sensor
from jushita_etl.defs.resources import MQResource, WarehouseResource
from jushita_etl.definitions import defs
from jushita_etl.holder import try_hold
from jushita_etl.mq.consume import ConsumerBusy, hold_group
from jushita_etl.settings import paths
from jushita_etl.warehouse import db, steps


def test_definitions_load():
    definitions = defs()
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_messages", "quarantine", "trade_events", "refund_events", "item_events", "logistics_events",
            "rating_events", "fenxiao_events", "fact_orders", "fact_refunds", "dim_items", "fact_shipments",
            "fact_rating_impressions", "published_warehouse"} <= keys
    repo = definitions.get_repository_def()
    assert {"landing_sensor", "consume_sensor"} <= {s.name for s in repo.sensor_defs}
    assert {"daily_reconciliation", "lake_maintenance_hourly", "run_history_hourly"} <= {
        s.name for s in repo.schedule_defs}
    for job in ("ingest_job", "events_job", "facts_job", "warehouse_job", "consume_job", "run_history_job"):
        definitions.resolve_job_def(job)
    # consumer_connected is in the UI, evaluated by consume runs; no build probes the broker
    assert CONSUMER_CHECK in definitions.resolve_asset_graph().asset_check_keys
    for job in ("ingest_job", "facts_job", "warehouse_job"):
        assert CONSUMER_CHECK not in definitions.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys


def test_every_table_asset_has_its_sql_file():
    from jushita_etl.warehouse import steps
    from jushita_etl.warehouse.sql import sql_dir

    for name in [t.name for t in steps.EVENT_TABLES] + [f.name for f in steps.FACT_TABLES]:
        assert (sql_dir() / f"{name}.sql").exists(), name


def test_dates_outside_the_partition_set_belong_to_its_end_partitions():
    from datetime import date

    from jushita_etl.defs.partitions import DAILY, partition_key_for

    keys = DAILY.get_partition_keys()
    first, last = date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
    assert partition_key_for(first - timedelta(days=400)) == keys[0]  # the first partition owns every day before
    assert partition_key_for(first + timedelta(days=1)) == keys[1]
    assert partition_key_for(last) == keys[-1]
    assert partition_key_for(last + timedelta(days=3)) == keys[-1]  # and the last every day after


def test_landing_sensor_requests_one_build_over_the_planned_dates(tmp_path, instance, monkeypatch):
    """The sensor plans from the warehouse's own state, as `jushita-etl build` does: nothing landed, no run; new
    batches, one warehouse_job run over their event dates; no second run while one waits to start; and nothing
    once a build (here the CLI's) has done the work."""
    from jushita_etl.build import run_build
    from jushita_etl.defs.landing.sensors import RANGE_END_TAG, RANGE_START_TAG
    from jushita_etl.settings import paths

    warehouse = WarehouseResource(data_dir=str(tmp_path))

    def tick():
        with dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}) as context:
            return landing_sensor(context)

    assert isinstance(tick(), dg.SkipReason)

    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 1}, pub_time=day + " 10:00:00"))
               for day in ("2026-11-09", "2026-11-10", "2026-11-10", "2026-11-01")]
    land_files([str(write_replay(tmp_path / "f.jsonl", records))], tmp_path / "landing", quiet=True)
    request = tick()
    assert isinstance(request, dg.RunRequest) and request.job_name == "warehouse_job"
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2026-11-01", "2026-11-10")
    assert request.tags["jushita/new_batches"] == "1"

    waiting = instance.add_run(dg.DagsterRun(job_name="warehouse_job", status=dg.DagsterRunStatus.NOT_STARTED))
    assert isinstance(tick(), dg.SkipReason)  # the run waiting to start takes the new work
    instance.delete_run(waiting.run_id)

    run_build(paths(tmp_path), instance=instance)
    assert isinstance(tick(), dg.SkipReason)  # nothing left to plan

    # a build under way, seen between its commits (its ingest done, nothing folded or published yet): its own
    # work, no second run; a new batch still makes one, and what a run leaves is planned once it has ended
    land_files([str(write_replay(tmp_path / "g.jsonl", records[:1] + [delivery(envelope(
        "taobao_trade_TradeCreate", {"tid": 2}, pub_time="2026-11-11 10:00:00"))]))], tmp_path / "landing", quiet=True)
    with db.writer(paths(tmp_path)) as conn:
        steps.ingest(conn, paths(tmp_path))
    running = instance.add_run(dg.DagsterRun(job_name="warehouse_job", status=dg.DagsterRunStatus.STARTED))
    skipped = tick()
    assert isinstance(skipped, dg.SkipReason) and "under way" in skipped.skip_message
    monkeypatch.setattr(sensors, "UNDER_WAY_AT_MOST", timedelta(0))  # started "long ago": its process is gone
    assert isinstance(tick(), dg.RunRequest)
    monkeypatch.undo()
    instance.report_run_failed(running)  # the run ended without finishing: its leftovers are planned now
    assert isinstance(tick(), dg.RunRequest)
    running = instance.add_run(dg.DagsterRun(job_name="maintenance_job", status=dg.DagsterRunStatus.STARTED))
    assert isinstance(tick(), dg.SkipReason)
    land_files([str(write_replay(tmp_path / "h.jsonl", [delivery(envelope(
        "taobao_trade_TradeCreate", {"tid": 3}, pub_time="2026-11-12 10:00:00"))]))], tmp_path / "landing", quiet=True)
    assert isinstance(tick(), dg.RunRequest)  # a new batch makes a run whatever is under way


def test_consume_sensor(instance):
    unconfigured = consume_sensor(dg.build_sensor_context(instance=instance, resources={"mq": MQResource()}))
    assert isinstance(unconfigured, dg.SkipReason)
    mq = MQResource(namesrv="127.0.0.1:9876", group="G", topic="T")
    request = consume_sensor(dg.build_sensor_context(instance=instance, resources={"mq": mq}))
    assert isinstance(request, dg.RunRequest)
    assert "secret" not in repr(mq).lower()


def test_consume_sensor_launches_the_successor_before_the_run_ends(instance):
    mq = MQResource(namesrv="127.0.0.1:9876", group="G", topic="T")

    def tick():
        return consume_sensor(dg.build_sensor_context(instance=instance, resources={"mq": mq}))

    def consume_run(status, tags):
        return instance.add_run(dg.DagsterRun(job_name="consume_job", status=status, tags=tags))

    starting = consume_run(dg.DagsterRunStatus.STARTED, {})  # not consuming yet (probing, or waiting for the lock)
    assert isinstance(tick(), dg.SkipReason)
    instance.delete_run(starting.run_id)
    run = consume_run(dg.DagsterRunStatus.STARTED, {CONSUMING_UNTIL_TAG: f"{time.time() + HANDOVER_LEAD + 60:.1f}"})
    assert isinstance(tick(), dg.SkipReason)  # far from its end
    instance.add_run_tags(run.run_id, {CONSUMING_UNTIL_TAG: f"{time.time() + HANDOVER_LEAD - 5:.1f}"})
    request = tick()
    assert isinstance(request, dg.RunRequest) and request.tags[REPLACES_TAG] == run.run_id
    wait = request.run_config["ops"]["consume_bounded"]["config"]["wait_for_group"]
    assert HANDOVER_LEAD - 5 + 50 < wait <= HANDOVER_LEAD + 60  # until the predecessor is due to stop, plus a minute
    job = defs().resolve_job_def("consume_job")
    assert dg.validate_run_config(job, request.run_config)

    successor = consume_run(dg.DagsterRunStatus.STARTED, {REPLACES_TAG: run.run_id})
    assert isinstance(tick(), dg.SkipReason)  # both going: nothing more
    # a failed successor is not relaunched while its predecessor runs (one successor per run)
    instance.delete_run(successor.run_id)
    consume_run(dg.DagsterRunStatus.FAILURE, {REPLACES_TAG: run.run_id})
    assert isinstance(tick(), dg.SkipReason)
    instance.delete_run(run.run_id)
    assert isinstance(tick(), dg.RunRequest)  # the predecessor gone: a fresh run, as on a fresh instance


def test_only_a_successor_waits_for_the_group_lock(tmp_path):
    data = paths(tmp_path / "data")
    held = try_hold(data.landing / "consumers" / "G.lock", "consumer of group G")
    started = time.monotonic()
    with pytest.raises(ConsumerBusy, match="another consumer of group G already lands into"):
        hold_group(data, "G")  # by hand: refused at once
    assert time.monotonic() - started < 0.5
    with pytest.raises(ConsumerBusy):
        hold_group(data, "G", wait=0.3)  # a successor whose predecessor never lets go: refused after its wait
    threading.Timer(0.5, held.close).start()
    started = time.monotonic()
    lock = hold_group(data, "G", wait=10)  # the predecessor lets go: taken at once
    assert 0.4 < time.monotonic() - started < 1.5
    lock.close()


def test_schedules_produce_valid_runs(instance):
    definitions = defs()
    repo = definitions.get_repository_def()
    reconciliation = repo.get_schedule_def("daily_reconciliation")
    with dg.build_schedule_context(instance=instance) as context:
        requests = reconciliation.evaluate_tick(context).run_requests
    assert len(requests) == 1
    config = requests[0].run_config["ops"]
    assert config["fact_tables"]["config"]["full"] is True
    job = definitions.resolve_job_def(reconciliation.job_name)
    assert dg.validate_run_config(job, requests[0].run_config)
