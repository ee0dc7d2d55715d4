"""Whole builds: idempotence, re-landing, overlapping chunks, full vs incremental, readers during builds."""

import json
import subprocess
import sys
import textwrap
from datetime import date

import duckdb
import pytest

from jushita_etl.build import run_build
from jushita_etl.cli import land_files
from jushita_etl.settings import paths
from jushita_etl.simulate.feed import FeedConfig, write_feed
from jushita_etl.warehouse import steps

TABLES = ["quarantine", *[t.name for t in steps.EVENT_TABLES], *[f.name for f in steps.FACT_TABLES]]


def snapshot(p) -> dict[str, list]:
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    try:
        out = {}
        for table in TABLES:
            columns = [c for c in conn.execute(f"DESCRIBE {table}").fetchall() if c[0] != "received_at"]
            names = ", ".join(c[0] for c in columns)
            out[table] = sorted(map(repr, conn.execute(f"SELECT {names} FROM {table}").fetchall()))
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    path = tmp_path_factory.mktemp("feed") / "feed.jsonl"
    with open(path, "wb") as fh:
        write_feed(fh, FeedConfig(orders=1200, seed=21, late_rate=0.05, duplicate_rate=0.05, redelivery_rate=0.05,
                                  malformed_rate=0.01))
    return path


@pytest.fixture(scope="module")
def one_build(tmp_path_factory, feed):
    import dagster as dg

    tmp = tmp_path_factory.mktemp("one")
    (tmp / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp / "home")) as instance:
        p = paths(tmp / "data")
        land_files([str(feed)], p.landing, quiet=True)
        report = run_build(p, instance=instance)
        assert report.reconciliation.holds, report.reconciliation.line()
        yield p, snapshot(p), instance


def test_build_is_one_run_and_every_check_passes(one_build):
    import dagster as dg

    _, _, instance = one_build
    runs = instance.get_runs()
    assert [r.job_name for r in runs] == ["warehouse_job"]  # ingest, events, facts, checks and publish
    evaluations = {
        (e.dagster_event.event_specific_data.asset_key.to_user_string(), e.dagster_event.event_specific_data.check_name):
            e.dagster_event.event_specific_data.passed
        for e in instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)}
    for table in steps.EVENT_TABLES:
        assert evaluations[(table.name, "unique_message_id")] is True
    for table in ["fact_orders", "fact_refunds", "dim_items", "fact_shipments"]:
        assert evaluations[(table, "unique_key")] is True
    assert evaluations[("published_warehouse", "reconciliation")] is True


def test_the_reconciliation_is_what_the_published_file_holds(one_build):
    """published_warehouse counts the invariant while the file is copied (db.publish), on the build database and
    the parsed deliveries (which are not published): the numbers it reports must be the ones counted there after
    the build, and its event rows and quarantined deliveries the ones an analyst counts on the published file."""
    import dagster as dg

    from jushita_etl.warehouse import db

    p, _, instance = one_build
    run_id = instance.get_runs()[0].run_id
    [evaluation] = [e.dagster_event.event_specific_data for e in
                    instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
                    if e.dagster_event.event_specific_data.check_name == "reconciliation"]
    with db.writer(p) as conn:
        counted = steps.reconcile(conn)
    assert {name: evaluation.metadata[name].value for name in vars(counted)} == vars(counted)
    assert counted.deliveries > 0 and counted.holds
    published = duckdb.connect(str(p.warehouse), read_only=True)
    try:
        events = sum(published.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in steps.EVENT_TABLES)
        quarantined = published.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        assert not published.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'deliveries'").fetchone()[0]
    finally:
        published.close()
    assert (events, quarantined) == (counted.events, counted.quarantined)


def _raw_messages_reports(instance) -> list[dict]:
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey("raw_messages"), limit=100).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in reversed(records)]


def test_raw_messages_records_what_the_build_ingested_before_its_run(one_build):
    from jushita_etl.warehouse import db

    p, _, instance = one_build
    with db.writer(p) as conn:
        batches, deliveries, quarantined = conn.execute(
            "SELECT (SELECT count(*) FROM etl.ingested_batches), count(*), count(*) FILTER (WHERE reason IS NOT NULL) "
            "FROM parsed.deliveries").fetchone()
    first = _raw_messages_reports(instance)[0]  # the build parsed the batches while Dagster started
    assert (first["new_batches"], first["new_deliveries"]) == (batches, deliveries)
    assert quarantined > 0 and first["new_deliveries"] > 0


def test_each_event_partition_reports_its_own_row_count(one_build):
    import dagster as dg

    from jushita_etl.defs.partitions import partition_key_for

    p, _, instance = one_build
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    expected = {}
    for day, rows in conn.execute("SELECT event_date, count(*) FROM trade_events GROUP BY 1").fetchall():
        expected[partition_key_for(day)] = expected.get(partition_key_for(day), 0) + rows
    conn.close()
    records = instance.fetch_materializations(dg.AssetKey("trade_events"), limit=1000).records
    reported = {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in reversed(records)}
    assert len(expected) > 3 and reported == expected  # the run covered every date: one materialization each


def test_second_build_is_a_fast_no_op(one_build):
    p, before, instance = one_build
    runs_before = len(instance.get_runs())
    report = run_build(p, instance=instance)
    assert report.nothing_new and report.runs == []  # decided from the manifest diff: Dagster is not even started
    assert len(instance.get_runs()) == runs_before
    assert snapshot(p) == before
    assert report.reconciliation.holds and report.reconciliation.deliveries > 0  # counted without a run


def test_relanding_changes_only_raw_messages(one_build, feed):
    p, before, instance = one_build
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    raw_before = conn.execute("SELECT count(*) FROM raw_messages").fetchone()[0]
    conn.close()
    land_files([str(feed)], p.landing, quiet=True)
    report = run_build(p, instance=instance)
    assert report.runs == ["facts_job"]  # every delivery is a redelivery: no event date changes
    latest = _raw_messages_reports(instance)[-1]
    assert (latest["new_batches"], latest["new_deliveries"]) == (1, 0)  # a new batch, but no new mq_msg_id
    assert snapshot(p) == before
    assert report.tables["raw_messages"] == 2 * raw_before
    assert report.reconciliation.holds


def test_overlapping_chunks_equal_one_build(tmp_path, feed, one_build, instance):
    _, expected, _ = one_build
    lines = feed.read_bytes().splitlines(keepends=True)
    p = paths(tmp_path / "data")
    step = len(lines) // 4
    for i, start in enumerate(range(0, len(lines), step)):
        chunk = tmp_path / f"chunk{i}.jsonl"
        chunk.write_bytes(b"".join(lines[max(0, start - step // 3): start + step]))  # overlaps the previous chunk
        land_files([str(chunk)], p.landing, quiet=True)
        run_build(p, instance=instance)
    assert snapshot(p) == expected
    # and a full rebuild from scratch gives exactly the same tables
    report = run_build(p, full=True, instance=instance)
    assert report.reconciliation.holds
    assert snapshot(p) == expected


def test_a_build_whose_publish_failed_is_published_by_the_next(tmp_path, feed, one_build, instance, monkeypatch):
    """A run that folded new batches but could not publish them (a full disk) leaves nothing pending: the next
    build must still publish them, not report that there is nothing new."""
    from jushita_etl.build import BuildFailed
    from jushita_etl.warehouse import db

    _, expected, _ = one_build
    lines = feed.read_bytes().splitlines(keepends=True)
    p = paths(tmp_path / "data")
    for i, part in enumerate([lines[: len(lines) // 2], lines[len(lines) // 2:]]):
        (tmp_path / f"part{i}.jsonl").write_bytes(b"".join(part))
    land_files([str(tmp_path / "part0.jsonl")], p.landing, quiet=True)
    run_build(p, instance=instance)
    land_files([str(tmp_path / "part1.jsonl")], p.landing, quiet=True)

    def disk_full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(db.shutil, "copyfile", disk_full)
    with pytest.raises(BuildFailed, match="No space left on device"):
        run_build(p, instance=instance)
    monkeypatch.undo()
    assert snapshot(p) != expected  # the first half only
    report = run_build(p, instance=instance)
    assert not report.nothing_new and report.runs == ["facts_job"]
    assert snapshot(p) == expected
    assert run_build(p, instance=instance).nothing_new


def test_reader_holds_the_file_across_builds(tmp_path, feed, instance):
    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    run_build(p, instance=instance)
    # A second process opens the analysts' file read-only and keeps it open until told to stop.
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, json, sys
        conn = duckdb.connect({str(p.warehouse)!r}, read_only=True)
        count = lambda: conn.execute("SELECT count(*) FROM trade_events").fetchone()[0]
        first = count()
        print("open", flush=True)
        sys.stdin.readline()
        print(json.dumps([first, count()]), flush=True)
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "open"
    more = tmp_path / "more.jsonl"
    with open(more, "wb") as fh:
        write_feed(fh, FeedConfig(orders=300, seed=99, start="2026-11-20"))
    land_files([str(more)], p.landing, quiet=True)
    report = run_build(p, instance=instance)  # completes while the reader holds its connection
    assert reader.poll() is None, "the reader was still open during the whole build"
    reader.stdin.write("go\n")
    reader.stdin.flush()
    first, later = json.loads(reader.stdout.readline())
    assert reader.wait() == 0
    assert first == later, "an open reader keeps its consistent snapshot"
    assert report.tables["trade_events"] > first, "a new connection sees the new build"
    fresh = duckdb.connect(str(p.warehouse), read_only=True)
    assert fresh.execute("SELECT count(*) FROM trade_events").fetchone()[0] == report.tables["trade_events"]
    fresh.close()


def test_far_apart_dates_build_in_separate_runs(tmp_path, instance):
    """A days-late event far from the rest gets its own run instead of stretching one run over every day between;
    the tables are the same either way."""
    from support import delivery, envelope, write_replay

    from jushita_etl.build import MAX_GAP_DAYS

    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 1, "payment": "1.00"}, pub_time="2026-11-11 10:00:00")),
               delivery(envelope("taobao_trade_TradeBuyerPay", {"tid": 1}, pub_time="2026-11-12 10:00:00")),
               delivery(envelope("taobao_trade_TradeCreate", {"tid": 2, "payment": "2.00"}, pub_time="2026-10-01 10:00:00"))]
    p = paths(tmp_path / "data")
    land_files([str(write_replay(tmp_path / "feed.jsonl", records))], p.landing, quiet=True)
    report = run_build(p, instance=instance)
    assert report.runs == ["warehouse_job", "warehouse_job"]  # with the right hint: one run (3 days apart)
    ranges = sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                    for r in instance.get_runs())
    assert ranges == [("2026-10-01", "2026-10-01"), ("2026-11-11", "2026-11-12")]
    assert (date(2026, 11, 11) - date(2026, 10, 1)).days > MAX_GAP_DAYS
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    assert conn.execute("SELECT tid, paid_at IS NOT NULL FROM fact_orders ORDER BY tid").fetchall() == [(1, True), (2, False)]


def test_a_damaged_landed_file_fails_the_build_with_one_clear_message(tmp_path, feed, instance):
    from jushita_etl.build import BuildFailed

    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    batch = next((p.landing / "batches").glob("*.parquet"))
    batch.write_bytes(batch.read_bytes()[: batch.stat().st_size // 2])  # cut in half after it was committed
    with pytest.raises(BuildFailed, match=r"^ingest failed: .*parquet"):
        run_build(p, instance=instance)
    conn = duckdb.connect(str(p.build_db), read_only=True)
    assert conn.execute("SELECT count(*) FROM etl.ingested_batches").fetchone()[0] == 0  # nothing half-ingested
    conn.close()


def _ingested(p) -> dict[str, list]:
    """What an ingest wrote, except what differs between two landings of one feed (batch ids, landing times)."""
    from jushita_etl.warehouse import db

    with db.writer(p) as conn:
        return {query: conn.execute(query).fetchall() for query in [
            "SELECT mq_msg_id, message_id, topic, reason, detail, body FROM quarantine ORDER BY mq_msg_id",
            "SELECT event_date FROM etl.pending_dates ORDER BY 1",
            "SELECT rows FROM etl.ingested_batches ORDER BY 1",
            "SELECT count(*), count(DISTINCT mq_msg_id), count(content) FROM parsed.deliveries",
        ]}


def test_an_ingest_that_fails_after_its_parse_is_completed_by_the_next(tmp_path, feed, monkeypatch):
    """The parse commits to the parsed deliveries' database before the rest of the ingest commits to the build
    database (steps._ingest_batches): when the second transaction fails, the next ingest must bring in exactly
    what one ingest that did not fail does."""
    from jushita_etl.warehouse import db

    clean, failed = paths(tmp_path / "clean"), paths(tmp_path / "failed")
    for p in (clean, failed):
        land_files([str(feed)], p.landing, quiet=True)
    with db.writer(clean) as conn:
        steps.ingest(conn, clean.landing)

    def disk_full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(steps, "publish_raw_view", disk_full)  # the last statement of the second transaction
    with pytest.raises(OSError), db.writer(failed) as conn:
        steps.ingest(conn, failed.landing)
    monkeypatch.undo()
    with db.writer(failed) as conn:
        assert conn.execute("SELECT count(*) FROM parsed.deliveries").fetchone()[0] > 10_000  # the parse committed
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0  # the rest did not
        assert steps.ingest(conn, failed.landing) > 0
    assert _ingested(failed) == _ingested(clean)


def test_parsed_deliveries_of_an_earlier_layout_move_to_their_own_file(tmp_path, feed):
    """Build databases made before the parsed deliveries had a file of their own hold them as etl.deliveries:
    the next writer moves them, and the build goes on as if they had always been there."""
    from jushita_etl.warehouse import db

    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    with db.writer(p) as conn:
        steps.ingest(conn, p.landing)
    before = _ingested(p)
    with db.writer(p) as conn:
        conn.execute("CREATE TABLE etl.deliveries AS SELECT * FROM parsed.deliveries")  # the earlier layout
    p.parsed_db.unlink()
    with db.writer(p) as conn:
        assert not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'deliveries' "
                                "AND schema_name = 'etl'").fetchone()[0]
    assert _ingested(p) == before


def test_a_build_whose_parsed_deliveries_are_lost_says_how_to_recover(tmp_path, feed, instance):
    from jushita_etl.warehouse import db

    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    run_build(p, instance=instance)
    p.parsed_db.unlink()  # the deliveries of every batch ingested so far, gone
    with pytest.raises(db.ParsedDeliveriesMissing, match=r"remove .*build and build again"):
        run_build(p, instance=instance)


def test_an_earlier_born_copy_landed_later_moves_the_event_to_its_date(tmp_path, instance):
    """The copy born first is the event row whatever the arrival order (contract: duplicates), so a later build that
    lands such a copy must also rebuild the date of the copy it displaces, or the message would be in two partitions."""
    from decimal import Decimal

    from support import delivery, envelope, write_replay

    first_landed = envelope("taobao_trade_TradeCreate", {"tid": 7, "payment": "1.00"}, id=777, pub_time="2026-11-12 10:00:00")
    born_first = envelope("taobao_trade_TradeCreate", {"tid": 7, "payment": "2.00"}, id=777, pub_time="2026-11-10 09:00:00")
    p = paths(tmp_path / "data")
    for name, record in [("a", delivery(first_landed, msg_id="COPY-A", born=1_794_000_001_000)),
                         ("b", delivery(born_first, msg_id="COPY-B", born=1_794_000_000_000))]:
        land_files([str(write_replay(tmp_path / f"{name}.jsonl", [record]))], p.landing, quiet=True)
        run_build(p, instance=instance)
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    assert conn.execute("SELECT event_date, payment FROM trade_events WHERE message_id = 777").fetchall() == [
        (date(2026, 11, 10), Decimal("2.00"))]
    assert conn.execute("SELECT payment FROM fact_orders WHERE tid = 7").fetchall() == [(Decimal("2.00"),)]
    conn.close()


def test_a_date_the_manifest_hints_missed_gets_its_own_run(tmp_path, instance):
    """The build's run starts from the manifest's date hints before the parse ends; the exact pending dates are read
    after it, so a date the hints did not name is built by a second run instead of being left behind."""
    from support import delivery, envelope, write_replay

    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 7001}, pub_time="2026-11-09 10:00:00")),
               delivery(envelope("taobao_trade_TradeCreate", {"tid": 7002}, pub_time="2026-11-12 10:00:00"))]
    p = paths(tmp_path / "data")
    land_files([str(write_replay(tmp_path / "f.jsonl", records))], p.landing, quiet=True)
    manifest = p.landing / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert entries[0]["event_dates"] == ["2026-11-09", "2026-11-12"]
    entries[0]["event_dates"] = ["2026-11-09"]  # as if the hint had missed a date
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))

    report = run_build(p, instance=instance)
    assert report.runs == ["warehouse_job", "warehouse_job"]  # with the right hint: one run (3 days apart)
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    try:
        assert conn.execute("SELECT tid, event_date FROM trade_events ORDER BY tid").fetchall() == [
            (7001, date(2026, 11, 9)), (7002, date(2026, 11, 12))]
        assert conn.execute("SELECT count(*) FROM fact_orders").fetchone()[0] == 2
    finally:
        conn.close()


def test_instance_databases_kept_open_spare_a_checkpoint_per_connection(tmp_path):
    """SQLite checkpoints a WAL database and removes its log when the last connection closes; with the build's
    idle connection open, a storage connection that writes and closes leaves the log in place."""
    import sqlite3

    from jushita_etl.build import _instance_databases_kept_open

    (tmp_path / "history").mkdir()
    db_path = tmp_path / "history" / "runs.db"
    setup = sqlite3.connect(db_path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE events (id INTEGER)")
    setup.close()

    def write_once() -> bool:
        conn = sqlite3.connect(db_path)
        with conn:
            conn.execute("INSERT INTO events VALUES (1)")
        conn.close()
        return db_path.with_name("runs.db-wal").exists()

    assert not write_once()  # the last close checkpointed and removed the log
    with _instance_databases_kept_open(tmp_path):
        assert write_once()
        assert write_once()
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM events").fetchone()[0] == 3


def test_trusting_object_shaped_json_parses_like_validating_it(tmp_path, feed):
    """The ingest's first parse trusts that object-shaped text is JSON (steps.ingest); on the simulator's feed,
    whose malformed bodies are all truncated or plain text, it must give exactly what the validating parse gives."""
    from jushita_etl.warehouse import db

    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    deliveries = {}
    for validate in (False, True):
        conn = duckdb.connect(str(tmp_path / f"validate-{validate}.duckdb"))
        db.prepare(conn)
        new = steps.new_batches(conn, p.landing)
        steps._ingest_batches(conn, p.landing, new, validate_json=validate)
        deliveries[validate] = conn.execute(
            "SELECT reason, * EXCLUDE (batch_id, reason) FROM parsed.deliveries ORDER BY mq_msg_id").fetchall()
        conn.close()
    assert len(deliveries[True]) > 10_000 and any(row[0] == "body_not_json" for row in deliveries[True])
    assert deliveries[False] == deliveries[True]


def test_a_build_collects_less_often_and_restores_the_collector(one_build):
    import gc

    from jushita_etl.build import _fewer_collections

    before = gc.get_threshold()
    assert before == (700, 10, 10)  # Python's defaults: the module's build (one_build) restored them
    with _fewer_collections():
        assert gc.get_threshold()[0] > before[0]
        left_young = [[i] for i in range(30_000)]  # tracked containers, below the raised first threshold
        assert len(gc.get_objects(generation=0)) >= 30_000
    assert gc.get_threshold() == before
    # what the build left young is in the oldest generation, so the restored thresholds start with no collection
    # of it (one is due at the very next allocations otherwise)
    assert len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1)) < 1_000
    assert left_young[-1] == [29_999]


def test_a_fact_or_a_check_alone_runs_from_the_definitions(tmp_path, instance):
    """fact_tables is subsettable, as the UI runs it: one fact with its check, or a check without its fact."""
    import dagster as dg

    from jushita_etl.defs.facts.assets import fact_tables
    from jushita_etl.defs.resources import WarehouseResource

    feed = tmp_path / "feed.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=60, seed=5))
    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    run_build(p, instance=instance)
    resources = {"warehouse": WarehouseResource(data_dir=str(p.data_dir))}

    def run(selection: dg.AssetSelection) -> tuple[list[str], set[tuple[str, bool]]]:
        result = dg.materialize([fact_tables], instance=instance, resources=resources, selection=selection)
        assert result.success
        return ([m.asset_key.to_user_string() for m in result.asset_materializations_for_node("fact_tables")],
                {(e.asset_key.to_user_string(), e.passed) for e in result.get_asset_check_evaluations()})

    assert run(dg.AssetSelection.assets("fact_shipments")) == (["fact_shipments"], {("fact_shipments", True)})
    only_check = dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("fact_orders"), "unique_key"))
    assert run(only_check) == ([], {("fact_orders", True)})


def _lock_is_free(p) -> bool:
    """Whether another open of the lock file (as another process would) can take the writer lock now."""
    import fcntl

    with open(p.build_dir / "writer.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def test_a_writer_handed_over_is_taken_by_the_next_writer_of_the_process(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from jushita_etl.warehouse import db

    p = paths(tmp_path / "data")
    with db.writer(p, hand_over=True) as conn:
        conn.execute("CREATE TEMP TABLE only_on_this_connection (x INTEGER)")
    assert not _lock_is_free(p)  # still held, for the next writer

    with ThreadPoolExecutor(1) as pool:  # another thread, as a run's step: same connection, no reopening
        def next_writer():
            with db.writer(p, timeout=1) as taken:
                return taken.execute("SELECT count(*) FROM only_on_this_connection").fetchone()[0]
        assert pool.submit(next_writer).result() == 0
    assert _lock_is_free(p)  # that block did not hand it over: closed, lock released

    with db.writer(p, hand_over=True):
        pass
    db.release_handed_over(p)  # nobody took it
    assert _lock_is_free(p)

    with pytest.raises(RuntimeError), db.writer(p, hand_over=True):
        raise RuntimeError("a failed block hands nothing over")
    assert _lock_is_free(p)


def test_a_writer_waiting_for_the_lock_takes_one_handed_over_meanwhile(tmp_path):
    import threading

    from jushita_etl.warehouse import db

    p = paths(tmp_path / "data")
    holding, waiting = threading.Event(), threading.Event()

    def parse():  # holds the writer until the other thread waits for it, then hands it over
        with db.writer(p, hand_over=True) as conn:
            conn.execute("CREATE TEMP TABLE made_by_the_parse (x INTEGER)")
            holding.set()
            waiting.wait(5)

    thread = threading.Thread(target=parse)
    thread.start()
    holding.wait(5)
    threading.Timer(0.2, waiting.set).start()
    with db.writer(p, timeout=5) as conn:  # waits for the lock, then finds the handed-over writer
        assert conn.execute("SELECT count(*) FROM made_by_the_parse").fetchone()[0] == 0
    thread.join()
    assert _lock_is_free(p)
