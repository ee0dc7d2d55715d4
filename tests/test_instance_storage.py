"""The instance's event log (jushita_etl/instance_storage.py), through the project's own dagster.yaml."""

import os
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage

from jushita_etl.instance_storage import PooledSqliteEventLogStorage


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b", "c"]))
def lettered(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": len(context.partition_keys)})


def _materialize(instance, partition_key: str) -> str:
    result = dg.materialize([lettered], instance=instance, partition_key=partition_key)
    assert result.success
    return result.run_id


def test_project_instance_records_a_run_through_one_pooled_connection(project_instance):
    storage = project_instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    event_log = str(Path(storage._base_dir) / "event_log.db")
    opened = []

    def on_connect(dbapi_connection, _record):  # any engine's: the stock class would make one per call
        files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
        opened.extend(f for f in files if f == event_log)

    sqlalchemy.event.listen(sqlalchemy.Engine, "connect", on_connect)
    try:
        run_ids = [_materialize(project_instance, key) for key in ["a", "b", "c"]]
    finally:
        sqlalchemy.event.remove(sqlalchemy.Engine, "connect", on_connect)

    logs = [project_instance.all_logs(run_id) for run_id in run_ids]
    assert all(len(entries) > 10 for entries in logs)
    assert len(opened) <= 1, "every event of three runs went through the pooled connection"
    assert project_instance.get_materialized_partitions(dg.AssetKey("lettered")) == {"a", "b", "c"}

    # the file is Dagster's own: its stock class (what the UI would use without this one) reads the same events
    stock = ConsolidatedSqliteEventLogStorage(str(storage._base_dir))
    assert [len(stock.get_logs_for_run(run_id)) for run_id in run_ids] == [len(entries) for entries in logs]
    stock.dispose()


def test_a_forked_child_records_events_through_its_own_engine(project_instance):
    storage = project_instance.event_log_storage
    parent_engine = storage._shared_engine()
    _materialize(project_instance, "a")

    pid = os.fork()
    if pid == 0:  # the child: a fresh engine, and its run recorded like any other
        try:
            ok = storage._shared_engine() is not parent_engine and bool(_materialize(project_instance, "b"))
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert storage._shared_engine() is parent_engine  # the parent's pool was left alone by the child
    _materialize(project_instance, "c")
    assert project_instance.get_materialized_partitions(dg.AssetKey("lettered")) == {"a", "b", "c"}


def test_a_table_is_looked_up_again_until_it_exists(project_instance):
    storage = project_instance.event_log_storage
    assert storage.has_table("asset_event_tags")
    assert not storage.has_table("added_by_a_later_migration")
    conn = sqlite3.connect(Path(storage._base_dir) / "event_log.db")
    conn.execute("CREATE TABLE added_by_a_later_migration (id INTEGER)")
    conn.commit()
    conn.close()
    assert storage.has_table("added_by_a_later_migration")


def test_commits_append_to_the_log_without_syncing_it(project_instance):
    storage = project_instance.event_log_storage
    _materialize(project_instance, "a")
    with storage._connect() as conn:
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    # NORMAL (1) is only crash-safe in WAL mode, which Dagster sets on the file it creates
    assert (journal, synchronous) == ("wal", 1)
    stock = ConsolidatedSqliteEventLogStorage(str(storage._base_dir))
    with stock.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: the setting is per connection
    stock.dispose()
