"""The run history's retention (jushita_etl/defs/maintenance/runs.py) on an instance configured as the project's:
runs older than the retention go with their events and check executions, unless one holds the latest
materialization of an asset or of a partition."""

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from jushita_etl.defs.maintenance import runs

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=DAYS)
def daily_rows() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset(check_specs=[dg.AssetCheckSpec("unique", asset="current_rows")])
def current_rows():
    yield dg.MaterializeResult(metadata={"dagster/row_count": 1})
    yield dg.AssetCheckResult(check_name="unique", passed=True)


@dg.asset
def broken_rows() -> None:
    raise RuntimeError("a failed build")


def _materialize(instance, asset, partition=None) -> str:
    return dg.materialize([asset], instance=instance, partition_key=partition, raise_on_error=False).run_id


def test_old_runs_go_unless_they_hold_a_latest_materialization(project_instance, monkeypatch):
    instance = project_instance
    first_day = [_materialize(instance, daily_rows, "2026-11-01") for _ in range(2)]
    second_day = _materialize(instance, daily_rows, "2026-11-02")
    current = [_materialize(instance, current_rows) for _ in range(2)]
    failed = _materialize(instance, broken_rows)
    every = {*first_day, second_day, *current, failed}

    monkeypatch.setenv(runs.RETENTION_SETTING, "1")  # every run is younger than a day
    young = runs.run_history_job.execute_in_process(instance=instance)
    assert young.output_for_node("prune_run_history") == 0
    assert every <= {run.run_id for run in instance.get_runs()}

    monkeypatch.setenv(runs.RETENTION_SETTING, "0")
    pruned = runs.run_history_job.execute_in_process(instance=instance)
    assert pruned.output_for_node("prune_run_history") == 4  # the first pass's run materialized nothing
    kept = {first_day[1], second_day, current[1]}
    assert {run.run_id for run in instance.get_runs()} == kept | {pruned.run_id}
    for gone in every - kept:
        assert instance.all_logs(gone) == []
    event_log = sqlite3.connect(Path(instance.event_log_storage._base_dir) / "event_log.db")
    checked = {row[0] for row in event_log.execute("SELECT run_id FROM asset_check_executions")}
    event_log.close()
    assert checked == {current[1]}
    # what the UI reports is unchanged: each partition's and the asset's last materialization
    latest = {partition: instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("daily_rows"), asset_partitions=[partition]), limit=1).records
        for partition in ("2026-11-01", "2026-11-02")}
    assert {p: [r.run_id for r in records] for p, records in latest.items()} == {
        "2026-11-01": [first_day[1]], "2026-11-02": [second_day]}
    assert instance.get_latest_materialization_event(dg.AssetKey("current_rows")).run_id == current[1]


@pytest.mark.parametrize("value", ["a week", "-1"])
def test_a_retention_that_is_no_number_of_days_is_refused(monkeypatch, value):
    monkeypatch.setenv(runs.RETENTION_SETTING, value)
    with pytest.raises(ValueError, match=runs.RETENTION_SETTING):
        runs.run_retention()
