"""Fault 1: a landed batch that cannot be read (truncated, zero bytes, not Parquet, wrong columns) is set aside and
reported; everything else is built; landing its source again repairs the warehouse exactly."""

from __future__ import annotations

import json

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fault_support import assert_equals_oracle, run_cli
from jushita_etl.build import run_build
from jushita_etl.landing.replay import land_files
from jushita_etl.settings import paths
from jushita_etl.warehouse import db, steps, unreadable


def _land_chunks(feed, data) -> list:
    """Land each chunk as its own batch; the batch files in landing order."""
    p = paths(data)
    for chunk in feed.chunks:
        land_files([str(chunk)], p.landing, quiet=True)
    return sorted((p.landing / "batches").glob("*.parquet"))


def _check(home) -> dg.AssetCheckEvaluation:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        record = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(dg.AssetKey("raw_messages"), "landed_batches_readable"))
    return record.event.dagster_event.event_specific_data


def test_a_truncated_batch_is_set_aside_reported_and_repaired_by_landing_it_again(tmp_path, feed, oracle):
    data, home = tmp_path / "data", tmp_path / "home"
    damaged = _land_chunks(feed, data)[1]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # cut short after it was acknowledged

    built = run_cli("build", "--data-dir", str(data), home=home)
    assert built.returncode == 1  # built, but a person is needed
    assert "Traceback" not in built.stderr
    assert f"unreadable batch {damaged.stem}" in built.stderr
    assert "No magic bytes found" in built.stderr and "no msg id readable" in built.stderr
    assert not damaged.exists() and (data / "landing" / "unreadable" / damaged.name).exists()  # moved, never deleted
    assert "raw_messages" in built.stdout  # the other batches were built and published

    status = run_cli("status", "--json", "--data-dir", str(data), home=home)
    assert status.returncode == 1
    assert json.loads(status.stdout)["unreadable_batches"] == [damaged.stem]
    check = _check(home)
    assert not check.passed and damaged.stem in check.description

    land_files([str(feed.chunks[1])], paths(data).landing, quiet=True)  # the replay file of what was lost
    repaired = run_cli("build", "--data-dir", str(data), home=home)
    assert repaired.returncode == 1  # no msg id of a cut-off file could be read: the operator closes it
    assert_equals_oracle(data, oracle)
    resolved = run_cli("unreadable", "--resolve", damaged.stem, "--data-dir", str(data), home=home)
    assert resolved.returncode == 0, resolved.stderr
    final = run_cli("build", "--data-dir", str(data), home=home)
    assert final.returncode == 0, final.stderr
    assert _check(home).passed


@pytest.mark.parametrize("damage, error", [
    (lambda path: path.write_bytes(b""), "too small to be a Parquet file"),
    (lambda path: path.write_bytes(b"PAR1 never a Parquet file\n" * 20), "No magic bytes found"),
    (lambda path: pq.write_table(pa.table({"x": [1]}), path), "not a landed batch: lacks mq_msg_id VARCHAR"),
], ids=["zero_bytes", "not_parquet", "other_file"])
def test_each_kind_of_unreadable_file_is_set_aside_with_its_reason(tmp_path, feed, damage, error):
    data = tmp_path / "data"
    batches = _land_chunks(feed, data)
    damage(batches[0])
    p = paths(data)
    with db.writer(p) as conn:
        assert steps.ingest(conn, p) == len(batches) - 1
        [found] = unreadable.unresolved(conn)
        assert conn.execute("SELECT count(*) FROM raw_messages").fetchone()[0] > 0  # the view skips the set-aside file
    assert found.batch_id == batches[0].stem and error in found.error
    assert found.rows > 0 and found.event_dates  # what the landing manifest knew of it
    assert found.moved_to == str(p.landing / "unreadable" / batches[0].name)


def test_a_batch_with_the_wrong_columns_is_resolved_by_itself_once_its_deliveries_arrive(tmp_path, feed, oracle,
                                                                                          instance):
    """A body column of text would be read as NULL bodies, quarantining good deliveries: the columns are checked
    before the parse. Its msg ids can still be read, so the ingest knows when every one was landed again."""
    data = tmp_path / "data"
    damaged = _land_chunks(feed, data)[2]
    table = pq.read_table(damaged)
    pq.write_table(table.drop_columns(["body"]).append_column("body", pa.array([None] * table.num_rows, pa.string())),
                   damaged)
    p = paths(data)
    report = run_build(p, instance=instance)
    [found] = report.unreadable
    assert "not a landed batch: lacks body BLOB" in found.error and found.known_ids == table.num_rows

    land_files([str(feed.chunks[2])], p.landing, quiet=True)
    assert run_build(p, instance=instance).unreadable == []
    assert_equals_oracle(data, oracle)
