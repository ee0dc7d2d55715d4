"""The lakehouse itself: extensions loaded offline from the pinned wheels, an unreachable catalog as one clear line,
readers pinned to a published snapshot, and maintenance that bounds files and snapshots without changing a row or
handing an old reader wrong rows. Micro-batches here go through every build step without Dagster
(warehouse.pipeline), on real lake files under tmp_path."""

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from support import delivery, envelope, write_replay

import jushita_etl
from jushita_etl.landing.replay import land_files
from jushita_etl.settings import lake as lake_settings, paths
from jushita_etl.warehouse import db, extensions, lake, maintenance, pipeline, steps
from jushita_etl.warehouse.plan import plan

CLI = [sys.executable, "-m", "jushita_etl.cli"]


def micro_batch(p, records, name):
    """Land ``records`` and take them through every step of a build, then publish."""
    land_files([str(write_replay(p.data_dir / f"{name}.jsonl", records))], p.landing, quiet=True)
    pipeline.build_without_dagster(p)


def trades(first_tid, n):
    return [delivery(envelope("taobao_trade_TradeCreate", {"tid": first_tid + i, "payment": "1.00"},
                              pub_time=f"2026-11-{10 + i % 5:02d} 10:00:00")) for i in range(n)]


def digest(conn):
    return {t: conn.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {t} AS t").fetchone()
            for t in ["trade_events", "fact_orders", "quarantine", "shipment_alerts"]}


def test_extensions_come_from_the_wheels_and_nothing_autoloads(tmp_path):
    p = paths(tmp_path)
    micro_batch(p, trades(1, 3), "a")
    conn = jushita_etl.connect(tmp_path)
    loaded = {name for name, in conn.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    assert {"ducklake", "sqlite_scanner"} <= loaded
    assert conn.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    assert extensions.extension_file("ducklake").endswith(".duckdb_extension")


def test_a_process_has_each_extension_file_signature_checked_once(tmp_path, monkeypatch):
    """DuckDB checks an extension's signature by hashing the whole binary, 0.1-0.2 s per file and connection. A
    process that opens many reader connections (a dashboard) has that done on its first; later ones load the same
    files, unchanged since, without it. A file changed since is checked again, and refused when tampered with."""
    p = paths(tmp_path)
    micro_batch(p, trades(1, 3), "a")
    copies = {}
    for name in ("ducklake", "sqlite_scanner"):
        source = Path(extensions.extension_file(name))
        copies[name] = tmp_path / "extensions" / name / source.name
        copies[name].parent.mkdir(parents=True)
        shutil.copy(source, copies[name])
    monkeypatch.setattr(extensions, "extension_file", lambda name: str(copies[name]))
    monkeypatch.setattr(extensions, "_SIGNATURES_CHECKED", set())

    def signature_checked() -> bool:
        conn = jushita_etl.connect(p.data_dir)
        try:
            assert conn.execute("SELECT count(*) FROM trade_events").fetchone()[0] == 3
            return not conn.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()[0]
        finally:
            conn.close()

    assert signature_checked()
    assert not signature_checked()
    assert not signature_checked()

    # replaced as a package manager replaces a file (a new file renamed over it: the loaded one stays mapped)
    tampered = bytearray(copies["ducklake"].read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF  # same size, other bytes
    replacement = copies["ducklake"].with_suffix(".new")
    replacement.write_bytes(bytes(tampered))
    os.utime(replacement, ns=(os.stat(copies["ducklake"]).st_atime_ns, os.stat(copies["ducklake"]).st_mtime_ns))
    replacement.rename(copies["ducklake"])
    with pytest.raises(duckdb.Error, match="signature"):
        jushita_etl.connect(p.data_dir)


def test_unreachable_catalog_is_one_clear_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    env = {**os.environ, "JUSHITA_CATALOG": f"postgres:dbname=x host=127.0.0.1 port={port} user=u password=hunter2 "
                                            "connect_timeout=2", "DAGSTER_HOME": str(tmp_path / "home")}
    for command in (["build"], ["sql", "SELECT 1"]):
        out = subprocess.run([*CLI, *command, "--data-dir", str(tmp_path)], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert "JUSHITA_CATALOG" in lines[0] and "cannot open the lakehouse" in lines[0]
        assert "hunter2" not in out.stderr  # the catalog string's password is never printed


def test_a_reader_during_the_first_build_hears_there_is_no_warehouse_yet(tmp_path):
    """The first build creates the SQLite catalog's file before DuckLake's tables are in it: an analyst who connects
    in between is told there is no warehouse yet, as before the file existed, not that the lakehouse cannot be
    opened (the intraday benchmark's analyst hit this once)."""
    catalog = lake_settings(paths(tmp_path)).sqlite_file
    catalog.parent.mkdir(parents=True)
    with sqlite3.connect(catalog) as created_by_the_first_build:
        created_by_the_first_build.execute("PRAGMA journal_mode=WAL")
    with pytest.raises(lake.NoWarehouseYet, match="no warehouse yet"):
        jushita_etl.connect(tmp_path)


def test_an_older_versions_event_queue_is_dropped_when_empty_and_refused_when_not(tmp_path):
    """Catalogs written before the ingest wrote the event tables kept new messages in etl.pending_events until the
    event step: an empty queue is dropped, and one still holding messages stops the build with the repair (they
    would never reach their tables), one line at the command line."""
    p = paths(tmp_path)
    micro_batch(p, trades(1, 5), "a")
    queue = "CREATE TABLE etl.pending_events (domain VARCHAR, message_id BIGINT, content VARCHAR, replaces BOOLEAN)"
    with db.writer(p) as conn:
        conn.execute(queue)
    with db.writer(p) as conn:  # prepared again: the empty queue is gone
        assert not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pending_events'").fetchone()[0]
        conn.execute(queue)
        conn.execute("INSERT INTO etl.pending_events VALUES ('trade', 7, '{}', false)")
    with pytest.raises(db.QueuedByAnOlderVersion, match="jushita-etl rebuild"), db.writer(p):
        pass
    out = subprocess.run([*CLI, "build", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "jushita-etl: this catalog holds messages queued by an older jushita-etl (etl.pending_events); run "
        "`jushita-etl rebuild` to build it anew from the landing zone"]


def test_delivery_id_hashes_are_filled_in_anew_when_missing_or_stale(tmp_path):
    """Catalogs written before etl.deliveries had msg_hash (the ingest's lookup of ids seen before) get the column
    filled in by the next preparation, and so do hashes another DuckDB computed differently; the same deliveries
    landed again are then recognized as seen."""
    p = paths(tmp_path)
    micro_batch(p, trades(1, 5), "a")
    with db.writer(p) as conn:
        conn.execute("ALTER TABLE etl.deliveries DROP COLUMN msg_hash")
    with db.writer(p) as conn:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE msg_hash = hash(mq_msg_id)) "
                            "FROM etl.deliveries").fetchone() == (5, 5)
        conn.execute("UPDATE etl.deliveries SET msg_hash = msg_hash + 1")  # as another DuckDB's hash would differ
    with db.writer(p) as conn:
        assert conn.execute("SELECT count(*) FILTER (WHERE msg_hash = hash(mq_msg_id)) "
                            "FROM etl.deliveries").fetchone() == (5,)
    land_files([str(p.data_dir / "a.jsonl")], p.landing, quiet=True)
    pipeline.build_without_dagster(p)
    conn = jushita_etl.connect(tmp_path)
    assert conn.execute("SELECT (SELECT count(*) FROM raw_messages), (SELECT count(*) FROM trade_events), "
                        "(SELECT count(*) FROM etl.deliveries)").fetchone() == (10, 5, 5)


def live_files(conn, table: str) -> tuple[int, int]:
    """The data files of ``table`` in the catalog's current snapshot, and the rows stored in them (deleted ones
    included: a delete file only marks them)."""
    metadata = f"__ducklake_metadata_{lake.ALIAS}"
    return conn.execute(
        f"SELECT count(*), coalesce(sum(f.record_count), 0) FROM {metadata}.ducklake_data_file AS f "
        f"JOIN {metadata}.ducklake_table AS t USING (table_id) "
        "WHERE t.table_name = $table AND f.end_snapshot IS NULL AND t.end_snapshot IS NULL", {"table": table}).fetchone()


def test_a_reader_keeps_its_build_while_the_next_one_commits(tmp_path):
    p = paths(tmp_path)
    micro_batch(p, trades(1, 5), "a")
    reader = jushita_etl.connect(tmp_path)
    first = digest(reader)
    with db.writer(p) as conn:  # a build half done: events committed, nothing published
        land_files([str(write_replay(tmp_path / "b.jsonl", trades(100, 5)))], p.landing, quiet=True)
        steps.ingest(conn, p)
        assert conn.execute("SELECT count(*) FROM trade_events").fetchone()[0] == 10
    assert digest(reader) == first
    assert digest(jushita_etl.connect(tmp_path)) == first  # a new reader still sees the last published build


@pytest.mark.parametrize("value, days", [("", 7), ("0.5", 0.5), ("30", 30)])
def test_the_time_travel_retention_is_a_number_of_days(monkeypatch, value, days):
    monkeypatch.setenv(maintenance.RETENTION_SETTING, value)
    assert maintenance.retention() == timedelta(days=days)


@pytest.mark.parametrize("value", ["a week", "-1", "nan"])
def test_a_time_travel_retention_that_is_no_number_of_days_is_refused_with_its_name(monkeypatch, value):
    """Read wrong, the retention would expire what it should keep: a negative one every snapshot but the published."""
    monkeypatch.setenv(maintenance.RETENTION_SETTING, value)
    with pytest.raises(ValueError, match=maintenance.RETENTION_SETTING):
        maintenance.retention()


def test_maintenance_compacts_the_fact_files_that_refolds_deleted_rows_from(tmp_path):
    p = paths(tmp_path)
    for i in range(6):  # 200 orders per batch, half of them the last batch's: each build refolds half the last's
        micro_batch(p, [delivery(envelope("taobao_trade_TradeBuyerPay", {"tid": tid, "payment": f"{i}.00"},
                                          pub_time=f"2026-11-10 1{i}:00:00"))
                        for tid in range(100 * i + 1, 100 * i + 201)], f"s{i}")
    before = digest(jushita_etl.connect(tmp_path))
    with db.writer(p) as conn:
        assert live_files(conn, "fact_orders")[0] == 6  # each build's file, half of every older one's rows deleted
        maintenance.maintain(conn, timedelta(0), fine=timedelta(0))
        assert live_files(conn, "fact_orders")[0] <= 2  # the merge alone merges no file with deletes
    assert digest(jushita_etl.connect(tmp_path)) == before


def test_publishing_gives_the_tables_a_build_left_unwritten_statistics_and_no_row(tmp_path):
    """A table DuckLake has no statistics for is looked up column by column in every read of it: the first publish
    gives each never-written table (no unreadable batch, no sync_users refresh here) statistics, without a row."""
    p = paths(tmp_path)
    micro_batch(p, trades(1, 3), "a")
    with db.writer(p) as conn:
        metadata = f"__ducklake_metadata_{lake.ALIAS}"
        without = conn.execute(f"SELECT table_name FROM {metadata}.ducklake_table WHERE end_snapshot IS NULL AND "
                               f"table_id NOT IN (SELECT table_id FROM {metadata}.ducklake_table_stats)").fetchall()
        assert without == []
        assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ["etl.unreadable_batches", "etl.sync_users_refreshes", "sync_users"]] == [0, 0, 0]
    reader = jushita_etl.connect(tmp_path)
    assert reader.execute("SELECT count(*) FROM sync_users").fetchone()[0] == 0
    reader.close()


def test_publishing_rewrites_the_dirty_key_files_whose_rows_the_refolds_deleted(tmp_path):
    p = paths(tmp_path)
    micro_batch(p, trades(1, 5), "a")
    with db.writer(p) as conn:  # 1,000 keys the next refold of fact_orders consumes, one that nothing consumes
        conn.execute("INSERT INTO etl.dirty_keys SELECT 'trade', range, NULL FROM range(1000) "
                     "UNION ALL SELECT 'consumed by nothing', 1, NULL")
    micro_batch(p, trades(100, 5), "b")
    with db.writer(p) as conn:
        live = conn.execute("SELECT count(*) FROM etl.dirty_keys").fetchone()[0]
        stored = live_files(conn, "dirty_keys")[1]
    assert live == 1 and stored <= live  # no deleted key is left for every later refold to read again


def test_maintenance_keeps_every_recent_snapshot_and_each_pass_state_older(tmp_path):
    p = paths(tmp_path)
    settings = lake_settings(p)

    def pinned_digest(snapshot):
        pinned = lake.connection(settings, internal=True)
        lake.attach(pinned, settings, read_only=True, snapshot=snapshot)
        pinned.execute("USE lake")
        return digest(pinned)

    micro_batch(p, trades(0, 20), "recent")
    with db.writer(p) as conn:
        snapshots = maintenance.counts(conn)[1]
        maintenance.maintain(conn, timedelta(days=7))  # everything is younger than the fine window: nothing expires
        assert maintenance.counts(conn)[1] > snapshots
    states = {}
    for hour in range(3):  # three passes an "hour" apart (no fine window), three builds before each
        for i in range(3):
            micro_batch(p, trades(1000 * (3 * hour + i + 1), 20), f"h{hour}-{i}")
        with db.writer(p) as conn:
            before = maintenance.counts(conn)[1]
            maintenance.maintain(conn, timedelta(days=7), fine=timedelta(0))
            states[lake.published_snapshot(conn)] = digest(jushita_etl.connect(tmp_path))
            after = maintenance.counts(conn)[1]
        assert after < before
    # each pass's state and its publish commit are all that is left; the builds' snapshots between them are gone
    assert after <= 2 * (len(states) + 1)
    for snapshot, state in states.items():
        assert pinned_digest(snapshot) == state  # time travel to any pass's state reads that build's rows
    last_state = digest(jushita_etl.connect(tmp_path))
    # a build that stopped after its ingest: a pass publishes nothing of it
    land_files([str(write_replay(tmp_path / "c.jsonl", trades(50_000, 20)))], p.landing, quiet=True)
    with db.writer(p) as conn:
        steps.ingest(conn, p)
        maintenance.maintain(conn, timedelta(days=7), fine=timedelta(0))
    assert digest(jushita_etl.connect(tmp_path)) == last_state


def test_maintenance_bounds_files_and_snapshots_and_changes_no_row(tmp_path):
    p = paths(tmp_path)
    for i in range(12):
        micro_batch(p, trades(1000 * i, 20), f"m{i}")
    old_reader = jushita_etl.connect(tmp_path)  # pinned to the build of the 12th batch
    micro_batch(p, trades(50_000, 20), "last")
    before = digest(jushita_etl.connect(tmp_path))
    with db.writer(p) as conn:
        files_before, snapshots_before = maintenance.counts(conn)
        maintenance.maintain(conn, timedelta(0), fine=timedelta(0))
        maintenance.maintain(conn, timedelta(0), fine=timedelta(0))
        files_after, snapshots_after = maintenance.counts(conn)
    assert files_after < files_before and snapshots_after < 10 < snapshots_before
    assert digest(jushita_etl.connect(tmp_path)) == before
    # the old reader's snapshot is gone: a clear error, never rows of another state
    with pytest.raises(duckdb.Error, match="[Ss]napshot"):
        old_reader.execute("SELECT count(*) FROM trade_events").fetchone()


def test_a_pass_keeps_the_state_readers_were_on_until_the_fine_window_has_passed_since(tmp_path):
    p = paths(tmp_path)
    micro_batch(p, trades(0, 20), "a")
    micro_batch(p, trades(1000, 20), "b")
    reader = jushita_etl.connect(tmp_path)  # on build b's state, which the pass below replaces
    state = digest(reader)
    fine = timedelta(seconds=1)
    time.sleep(1.5)  # build b's snapshots are older than the fine window
    with db.writer(p) as conn:
        maintenance.maintain(conn, timedelta(days=7), fine=fine)
    assert digest(reader) == state  # it stopped being the published one only now
    time.sleep(1.5)
    with db.writer(p) as conn:
        maintenance.maintain(conn, timedelta(days=7), fine=fine)
    with pytest.raises(duckdb.Error, match="[Ss]napshot"):
        digest(reader)  # replaced longer ago than the fine window: a clear error, never rows of another state


def test_the_maintenance_job_publishes_the_compacted_build_and_leaves_nothing_to_build(tmp_path, instance):
    """lake_files as its schedule runs it: readers move to the merged files of the same rows, and the landing
    sensor's planner finds nothing to build after it (the pass's commits are published)."""
    import dagster as dg

    from jushita_etl.build import run_build
    from jushita_etl.defs.maintenance.assets import lake_files
    from jushita_etl.defs.resources import WarehouseResource

    p = paths(tmp_path)
    for i in range(3):
        land_files([str(write_replay(tmp_path / f"t{i}.jsonl", trades(1000 * i, 20)))], p.landing, quiet=True)
        run_build(p, instance=instance)
    before = digest(jushita_etl.connect(tmp_path))
    with db.writer(p) as conn:
        published = lake.published_snapshot(conn)
    result = dg.materialize([lake_files], instance=instance,
                            resources={"warehouse": WarehouseResource(data_dir=str(p.data_dir))})
    assert result.success
    metadata = result.asset_materializations_for_node("lake_files")[0].metadata
    assert metadata["files"].value < metadata["files_before"].value
    assert digest(jushita_etl.connect(tmp_path)) == before
    with db.writer(p) as conn:
        assert lake.published_snapshot(conn) > published
        assert not plan(conn, p.landing).anything
