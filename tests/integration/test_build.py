"""Whole builds as a user runs them (``run_build``: the CLI's build, Dagster in-process): one run and its checks,
idempotence, re-landing, chunks vs one build, full vs incremental, republished messages, failures recovered by the
next build, and what readers see while builds commit. The rules of each table are tested without Dagster in
tests/unit/; the ingest and the writer's internals there too."""

import json
import subprocess
import sys
import textwrap
from dataclasses import astuple
from datetime import date, datetime
from decimal import Decimal

import pytest
from support import delivery, envelope, write_replay

import jushita_etl
from jushita_etl.build import SETTLED_MEMO, run_build
from jushita_etl.landing.replay import land_files
from jushita_etl.settings import paths
from jushita_etl.simulate.feed import FeedConfig, write_feed
from jushita_etl.warehouse import db, lake, pipeline, scenarios, steps
from jushita_etl.warehouse.plan import settled, settled_state

TABLES = ["quarantine", *[t.name for t in steps.EVENT_TABLES], *[f.name for f in steps.FACT_TABLES]]
TRADE = next(t for t in steps.EVENT_TABLES if t.name == "trade_events")


def snapshot(p) -> dict[str, list]:
    """Every contract table of the published build, as analysts read it: full contents, sorted."""
    conn = jushita_etl.connect(p.data_dir)
    try:
        out = {}
        for table in TABLES:
            columns = [c for c in conn.execute(f"DESCRIBE {table}").fetchall() if c[0] != "received_at"]
            names = ", ".join(c[0] for c in columns)
            out[table] = sorted(map(repr, conn.execute(f"SELECT {names} FROM {table}").fetchall()))
        return out
    finally:
        conn.close()


def counts(conn) -> dict[str, int]:
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ["raw_messages", *TABLES]}


def published_counts(p) -> dict[str, int]:
    conn = jushita_etl.connect(p.data_dir)
    try:
        return counts(conn)
    finally:
        conn.close()


def land(p, tmp_path, records: list[dict], name: str) -> None:
    land_files([str(write_replay(tmp_path / f"{name}.jsonl", records))], p.landing, quiet=True)


@pytest.fixture(scope="module")
def one_build(tmp_path_factory, simulated_feed):
    import dagster as dg

    tmp = tmp_path_factory.mktemp("one")
    (tmp / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp / "home")) as instance:
        p = paths(tmp / "data")
        land_files([str(simulated_feed)], p.landing, quiet=True)
        report = run_build(p, instance=instance)
        assert report.reconciliation.holds, report.reconciliation.line()
        yield p, snapshot(p), instance


def test_the_steps_without_dagster_build_what_the_dagster_run_builds(tmp_path, simulated_feed, one_build):
    """tests/unit/ checks the rules through warehouse.pipeline (every step, no Dagster): on the simulator's feed it
    must give exactly the tables the Dagster run gives, scenario tables included, so what those tests check holds
    for the builds users run."""
    p, expected, _ = one_build
    alone = paths(tmp_path / "data")
    land_files([str(simulated_feed)], alone.landing, quiet=True)
    pipeline.build_without_dagster(alone)
    assert snapshot(alone) == expected
    dagster_built, steps_built = jushita_etl.connect(p.data_dir), jushita_etl.connect(alone.data_dir)
    try:
        for table in scenarios.SCENARIO_TABLES:
            query = f"SELECT * FROM {table.name} ORDER BY ALL"
            assert steps_built.execute(query).fetchall() == dagster_built.execute(query).fetchall(), table.name
    finally:
        dagster_built.close()
        steps_built.close()


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


def test_the_reconciliation_is_what_the_published_build_holds(one_build):
    """published_warehouse counts the invariant on the writer's state and publishes that state: the numbers it
    reports must be the ones counted there after the build, and the ones an analyst counts on the published
    snapshot (the pipeline's bookkeeping, schema etl, is in the same catalog and snapshot)."""
    import dagster as dg

    p, _, instance = one_build
    run_id = instance.get_runs()[0].run_id
    [evaluation] = [e.dagster_event.event_specific_data for e in
                    instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
                    if e.dagster_event.event_specific_data.check_name == "reconciliation"]
    with db.writer(p) as conn:
        counted = steps.reconcile(conn)
    assert {name: evaluation.metadata[name].value for name in vars(counted)} == vars(counted)
    assert counted.deliveries > 0 and counted.holds
    published = jushita_etl.connect(p.data_dir)
    try:
        assert steps.reconcile(published) == counted
        events = sum(published.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in steps.EVENT_TABLES)
        quarantined = published.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        # and the deliveries, duplicates and unmodelled deliveries, counted again over everything landed
        recounted = published.execute(
            "SELECT (SELECT count(DISTINCT mq_msg_id) FROM raw_messages), "
            "count(*) FILTER (WHERE reason IS NULL AND domain IS NOT NULL) "
            "- count(DISTINCT (domain, message_id)) FILTER (WHERE reason IS NULL AND domain IS NOT NULL), "
            "count(*) FILTER (WHERE reason IS NULL AND domain IS NULL) FROM etl.deliveries").fetchone()
    finally:
        published.close()
    assert (events, quarantined) == (counted.events, counted.quarantined)
    assert recounted == (counted.deliveries, counted.duplicates, counted.unmodelled)


def _raw_messages_reports(instance) -> list[dict]:
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey("raw_messages"), limit=100).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in reversed(records)]


def test_raw_messages_records_what_the_build_ingested_before_its_run(one_build):
    p, _, instance = one_build
    with db.writer(p) as conn:
        batches, deliveries, quarantined = conn.execute(
            "SELECT (SELECT count(*) FROM etl.ingested_batches), count(*), count(*) FILTER (WHERE reason IS NOT NULL) "
            "FROM etl.deliveries").fetchone()
    first = _raw_messages_reports(instance)[0]  # the build ingested the batches before its run started
    assert (first["new_batches"], first["new_deliveries"]) == (batches, deliveries)
    assert quarantined > 0 and first["new_deliveries"] > 0


def test_each_event_partition_reports_its_own_row_count(one_build):
    import dagster as dg

    from jushita_etl.defs.partitions import partition_key_for

    p, _, instance = one_build
    conn = jushita_etl.connect(p.data_dir)
    expected = {}
    for day, rows in conn.execute("SELECT event_date, count(*) FROM trade_events GROUP BY 1").fetchall():
        expected[partition_key_for(day)] = expected.get(partition_key_for(day), 0) + rows
    conn.close()
    records = instance.fetch_materializations(dg.AssetKey("trade_events"), limit=1000).records
    reported = {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in reversed(records)}
    assert len(expected) > 3 and reported == expected  # the run covered every date: one materialization each


def test_each_fact_and_scenario_reports_the_rows_it_holds(tmp_path, small_simulated_feed, instance):
    """The row counts a fold or refresh reports are taken from what it wrote (a first build) or counted (a later,
    incremental one): either way they are the published tables' counts."""
    import dagster as dg

    names = [*[f.name for f in steps.FACT_TABLES], *[t.name for t in scenarios.SCENARIO_TABLES]]
    lines = small_simulated_feed.read_bytes().splitlines(keepends=True)
    p = paths(tmp_path / "data")
    for i, chunk in enumerate([lines[: len(lines) // 2], lines[len(lines) // 2:]]):
        (tmp_path / f"chunk{i}.jsonl").write_bytes(b"".join(chunk))
        land_files([str(tmp_path / f"chunk{i}.jsonl")], p.landing, quiet=True)
        run_build(p, instance=instance)
        reported = {name: instance.get_latest_materialization_event(dg.AssetKey(name)).asset_materialization
                    .metadata["dagster/row_count"].value for name in names}
        conn = jushita_etl.connect(p.data_dir)
        try:
            assert reported == {name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in names}
        finally:
            conn.close()
    assert reported["fact_orders"] > 0 and reported["shipment_alerts"] > 0  # the feed's orders and its late parcels


def test_second_build_is_a_fast_no_op(one_build):
    p, before, instance = one_build
    runs_before = len(instance.get_runs())
    with db.writer(p) as conn:
        catalog_before = lake.current_snapshot(conn)
    report = run_build(p, instance=instance)
    assert report.nothing_new and report.runs == []  # decided from the warehouse's state: Dagster is not even started
    assert len(instance.get_runs()) == runs_before
    with db.writer(p) as conn:
        assert lake.current_snapshot(conn) == catalog_before  # and nothing was committed to the catalog
    assert snapshot(p) == before
    assert report.reconciliation.holds and report.reconciliation.deliveries > 0  # counted without a run


def test_a_build_remembers_that_nothing_is_left_and_what_lands_later_is_built(tmp_path, small_simulated_feed,
                                                                              instance):
    p = paths(tmp_path / "data")
    land_files([str(small_simulated_feed)], p.landing, quiet=True)
    report = run_build(p, instance=instance)
    remembered = json.loads((p.build_dir / SETTLED_MEMO).read_text())
    with db.writer(p, prepared=False) as conn:
        assert remembered["state"] == settled_state(conn, p.landing)
        checked = settled(conn, p.landing)  # no memo: the tables themselves
    assert remembered["reconciliation"] == list(checked.reconciliation) == list(astuple(report.reconciliation))
    assert remembered["unresolved"] == checked.unresolved == 0

    land(p, tmp_path, [delivery(envelope("taobao_trade_TradeCreate", {"tid": 8_888_888_001, "payment": "1.00"}))],
         "later")
    later = run_build(p, instance=instance)
    assert not later.nothing_new and later.tables["trade_events"] == report.tables["trade_events"] + 1
    assert run_build(p, instance=instance).nothing_new


def test_relanding_changes_only_raw_messages(one_build, simulated_feed):
    p, before, instance = one_build
    conn = jushita_etl.connect(p.data_dir)
    raw_before = conn.execute("SELECT count(*) FROM raw_messages").fetchone()[0]
    conn.close()
    land_files([str(simulated_feed)], p.landing, quiet=True)
    report = run_build(p, instance=instance)
    assert report.runs == ["facts_job"]  # every delivery is a redelivery: no event date changes
    latest = _raw_messages_reports(instance)[-1]
    assert (latest["new_batches"], latest["new_deliveries"]) == (1, 0)  # a new batch, but no new mq_msg_id
    assert snapshot(p) == before
    assert report.tables["raw_messages"] == 2 * raw_before
    assert report.reconciliation.holds


def test_overlapping_chunks_equal_one_build(tmp_path, simulated_feed, one_build, instance):
    _, expected, _ = one_build
    lines = simulated_feed.read_bytes().splitlines(keepends=True)
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


def _republished(born: int) -> list[list[dict]]:
    """Hand-written platform re-publishes spread over three arrival chunks: for each message the copy born first
    arrives in a later chunk than a copy born after it, with other content (the event row must move to it), and
    a copy born last arrives in between or after (it must change nothing)."""
    T, R = "taobao_trade_", "taobao_refund_"

    def trade(event, tid, id, pub_time, **content):
        return envelope(T + event, {"tid": tid, **content}, id=id, pub_time=pub_time)

    chunks: list[list[dict]] = [[], [], []]
    for i in range(3):
        tid, id = 9_100_000_000 + i, 9_200_000_000 + 10 * i
        chunks[0] += [delivery(trade("TradeCreate", tid, id, "2026-11-12 10:00:00", status="WAIT_BUYER_PAY",
                                     payment="10.00"), msg_id=f"RP-{i}-LATER", born=born + 5_000),
                      delivery(trade("TradeBuyerPay", tid, id + 1, "2026-11-12 11:00:00"), msg_id=f"RP-{i}-PAY",
                               born=born + 6_000)]
        chunks[1 + i % 2] += [delivery(trade("TradeCreate", tid, id, "2026-11-10 09:00:00", status="TRADE_CLOSED",
                                             payment="20.00"), msg_id=f"RP-{i}-EARLIER", born=born)]
        chunks[1 + (i + 1) % 2] += [delivery(trade("TradeCreate", tid, id, "2026-11-13 09:00:00",
                                                   status="TRADE_FINISHED", payment="30.00"),
                                             msg_id=f"RP-{i}-LAST", born=born + 9_000)]
    # a refund re-published with another fee: fact_orders.refunded_amount of its order must follow the refund
    refund = {"refund_id": 9_300_000_000, "tid": 9_100_000_000, "modified": "2026-11-12 12:00:00"}
    chunks[0].append(delivery(envelope(R + "RefundSuccess", {**refund, "refund_fee": "1.00"}, id=9_400_000_000,
                                       pub_time="2026-11-12 12:00:00"), msg_id="RF-LATER", born=born + 5_000))
    chunks[2].append(delivery(envelope(R + "RefundSuccess", {**refund, "refund_fee": "2.00"}, id=9_400_000_000,
                                       pub_time="2026-11-12 12:00:00"), msg_id="RF-EARLIER", born=born))
    return chunks


def test_three_arrival_chunks_equal_landing_everything_then_one_build(tmp_path, small_simulated_feed, instance):
    """The same deliveries, landed and built in three arrival chunks, or landed all and built once: every contract
    table (quarantine, events, facts) holds exactly the same rows."""
    lines = small_simulated_feed.read_bytes().splitlines(keepends=True)
    born = min(json.loads(line)["born_timestamp"] for line in lines)
    extra = _republished(born)
    third = len(lines) // 3
    chunks = [b"".join(lines[:third]), b"".join(lines[third:2 * third]), b"".join(lines[2 * third:])]
    for i, records in enumerate(extra):
        chunks[i] += b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
        (tmp_path / f"chunk{i}.jsonl").write_bytes(chunks[i])

    once = paths(tmp_path / "once")
    for i in range(3):
        land_files([str(tmp_path / f"chunk{i}.jsonl")], once.landing, quiet=True)
    report = run_build(once, instance=instance)
    assert report.runs == ["warehouse_job"] and report.reconciliation.holds
    expected = snapshot(once)

    chunked = paths(tmp_path / "chunked")
    for i in range(3):
        land_files([str(tmp_path / f"chunk{i}.jsonl")], chunked.landing, quiet=True)
        report = run_build(chunked, instance=instance)
        assert report.runs == ["warehouse_job"] and report.reconciliation.holds, report.reconciliation.line()
    assert snapshot(chunked) == expected

    # the re-published messages hold their first-born copies either way (so the chunks did replace event rows)
    conn = jushita_etl.connect(chunked.data_dir)
    try:
        assert conn.execute("SELECT count(*), count(DISTINCT message_id), min(status), max(status), sum(payment) "
                            "FROM trade_events WHERE tid BETWEEN 9100000000 AND 9100000002 AND event_type = "
                            "'TradeCreate'").fetchone() == (3, 3, "TRADE_CLOSED", "TRADE_CLOSED", Decimal("60.00"))
        assert conn.execute("SELECT refunded_amount FROM fact_orders WHERE tid = 9100000000").fetchone() == (
            Decimal("2.00"),)
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] > 0
    finally:
        conn.close()


def build_first_half_land_second(feed, tmp_path, p, instance) -> dict:
    """Land the first half of ``feed`` and build it, then land the second half unbuilt; the first build's snapshot."""
    lines = feed.read_bytes().splitlines(keepends=True)
    for i, part in enumerate([lines[: len(lines) // 2], lines[len(lines) // 2:]]):
        (tmp_path / f"part{i}.jsonl").write_bytes(b"".join(part))
    land_files([str(tmp_path / "part0.jsonl")], p.landing, quiet=True)
    run_build(p, instance=instance)
    built = snapshot(p)
    land_files([str(tmp_path / "part1.jsonl")], p.landing, quiet=True)
    return built


def test_a_build_whose_publish_failed_is_published_by_the_next(tmp_path, simulated_feed, one_build, instance,
                                                               monkeypatch):
    """A run that applied new events and refolded the facts but could not publish them (a full disk at its last
    step) leaves nothing pending: analysts still see the previous build, and the next build must still publish the
    work, not report that there is nothing new."""
    from jushita_etl.build import BuildFailed

    _, expected, _ = one_build
    p = paths(tmp_path / "data")
    first_half = build_first_half_land_second(simulated_feed, tmp_path, p, instance)

    def disk_full(conn):
        raise OSError("No space left on device")

    monkeypatch.setattr(lake, "publish", disk_full)
    with pytest.raises(BuildFailed, match="no space left on "):
        run_build(p, instance=instance)
    monkeypatch.undo()
    assert snapshot(p) == first_half  # the work committed but not published is invisible
    with db.writer(p) as conn:
        assert not conn.execute("SELECT EXISTS (FROM etl.event_changes) OR EXISTS (FROM etl.dirty_keys)").fetchone()[0]
    report = run_build(p, instance=instance)
    assert not report.nothing_new and report.runs == ["facts_job"]
    assert snapshot(p) == expected
    assert run_build(p, instance=instance).nothing_new


READER = textwrap.dedent("""
    import json, sys
    import jushita_etl
    from jushita_etl.warehouse import steps

    tables = json.loads(sys.argv[2])
    conn = jushita_etl.connect(sys.argv[1])
    for _ in sys.stdin:  # one line of counts (and whether the invariant holds on them) per line asked
        counted = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        counted["holds"] = steps.reconcile(conn).holds
        print(json.dumps(counted), flush=True)
""")


def test_an_open_reader_keeps_its_build_while_and_after_the_next_build_commits(tmp_path, small_simulated_feed,
                                                                              instance, monkeypatch):
    """Snapshot isolation: an analyst's connection (another process) opened on one build sees exactly that build,
    every table consistent with the others, while the next build commits its steps and publishes, and after; a new
    connection sees the new build."""
    p = paths(tmp_path / "data")
    land_files([str(small_simulated_feed)], p.landing, quiet=True)
    run_build(p, instance=instance)
    first = {**published_counts(p), "holds": True}
    reader = subprocess.Popen([sys.executable, "-c", READER, str(p.data_dir), json.dumps(["raw_messages", *TABLES])],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def reader_counts() -> dict:
        reader.stdin.write("count\n")
        reader.stdin.flush()
        return json.loads(reader.stdout.readline())

    try:
        assert reader_counts() == first
        more = tmp_path / "more.jsonl"
        with open(more, "wb") as fh:
            write_feed(fh, FeedConfig(orders=150, seed=99, start="2026-11-20"))
        land_files([str(more)], p.landing, quiet=True)

        seen = {}
        real_publish = lake.publish

        def publish_watched(conn):  # the run's last step: its events and facts are committed, not yet published
            seen["writer"] = counts(conn)
            seen["reader before"], seen["new connection before"] = reader_counts(), published_counts(p)
            snapshot_id = real_publish(conn)
            seen["reader after"] = reader_counts()
            return snapshot_id

        monkeypatch.setattr(lake, "publish", publish_watched)
        report = run_build(p, instance=instance)
        monkeypatch.undo()
        assert seen["writer"]["trade_events"] > first["trade_events"]  # the build had committed new rows...
        assert seen["writer"]["fact_orders"] > first["fact_orders"]
        # ...which no reader saw before the publish, and the open reader did not see after it either
        assert seen["reader before"] == seen["reader after"] == first
        assert seen["new connection before"] == {k: v for k, v in first.items() if k != "holds"}
        assert reader_counts() == first
        assert reader.poll() is None, "the reader stayed open during the whole build"
    finally:
        reader.stdin.close()
        assert reader.wait(timeout=60) == 0
    # a new connection sees the new build, whole
    assert published_counts(p) == seen["writer"] == {t: report.tables[t] for t in seen["writer"]}
    assert report.reconciliation.holds


def test_events_committed_without_publishing_are_invisible_to_new_readers(tmp_path, small_simulated_feed,
                                                                         instance):
    """A writer that commits new event rows (an ingest, on a writer connection) without publishing them changes
    nothing for analysts; the next build publishes them with the rest, nothing lost or doubled."""
    p = paths(tmp_path / "data")
    before = build_first_half_land_second(small_simulated_feed, tmp_path, p, instance)
    with db.writer(p) as conn:
        assert steps.ingest(conn, p) == 1
        applied = conn.execute("SELECT count(*) FROM trade_events").fetchone()[0]
        assert applied > len(before["trade_events"])
        assert snapshot(p) == before  # while the writer is open...
    assert snapshot(p) == before  # ...and after it closed: committed, not published
    report = run_build(p, instance=instance)
    assert report.runs == ["warehouse_job"]  # the changed partitions to report, the facts to fold
    assert report.tables["trade_events"] == applied and report.reconciliation.holds
    assert snapshot(p) != before

    once = paths(tmp_path / "once")  # the same as landing both halves and building once
    land_files([str(tmp_path / "part0.jsonl"), str(tmp_path / "part1.jsonl")], once.landing, quiet=True)
    run_build(once, instance=instance)
    assert snapshot(p) == snapshot(once)


def test_far_apart_dates_build_in_one_run_that_counts_only_their_partitions(tmp_path, instance):
    """A days-late event far from the rest is applied by the same run: the run's range spans both, row counts are
    reported for the dates that got rows only, and the facts are right."""
    import dagster as dg

    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 1, "payment": "1.00"}, pub_time="2026-11-11 10:00:00")),
               delivery(envelope("taobao_trade_TradeBuyerPay", {"tid": 1}, pub_time="2026-11-12 10:00:00")),
               delivery(envelope("taobao_trade_TradeCreate", {"tid": 2, "payment": "2.00"}, pub_time="2026-10-01 10:00:00"))]
    p = paths(tmp_path / "data")
    land(p, tmp_path, records, "feed")
    report = run_build(p, instance=instance)
    assert report.runs == ["warehouse_job"]
    [run] = instance.get_runs()
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
        "2026-10-01", "2026-11-12")
    records = instance.fetch_materializations(dg.AssetKey("trade_events"), limit=1000).records
    counted = {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in records
               if "dagster/row_count" in r.asset_materialization.metadata}
    assert counted == {"2026-10-01": 1, "2026-11-11": 1, "2026-11-12": 1}
    conn = jushita_etl.connect(p.data_dir)
    try:
        assert conn.execute("SELECT tid, paid_at IS NOT NULL FROM fact_orders ORDER BY tid").fetchall() == [
            (1, True), (2, False)]
    finally:
        conn.close()


def test_a_republished_id_keeps_the_copy_born_first_whatever_the_arrival_order(tmp_path, instance):
    """The copy born first is the event row whatever the arrival order (contract: duplicates). Envelope id X is
    delivered first in a copy born later (built), then in a copy born earlier with another status, payment and
    date (built): one event row for X, the earlier-born copy's, moved to its date (or the message would be in two
    partitions), and the fact follows it. A third copy born after both changes nothing. The same when the later
    copy's event row is committed but not yet folded or published when the earlier one arrives."""
    BORN = 1_794_000_000_000

    def create(id, status, payment, pub_time, born, msg_id, tid=42):
        return delivery(envelope("taobao_trade_TradeCreate", {"tid": tid, "status": status, "payment": payment},
                                 id=id, pub_time=pub_time), msg_id=msg_id, born=born)

    def state(p, tid=42, id=4242) -> tuple[list, list]:
        conn = jushita_etl.connect(p.data_dir)
        try:
            return (conn.execute("SELECT status, payment, event_date FROM trade_events WHERE message_id = ?",
                                 [id]).fetchall(),
                    conn.execute("SELECT status, payment, event_count, first_event_at FROM fact_orders WHERE tid = ?",
                                 [tid]).fetchall())
        finally:
            conn.close()

    p = paths(tmp_path / "data")
    pay = delivery(envelope("taobao_trade_TradeBuyerPay", {"tid": 42}, id=4243, pub_time="2026-11-12 11:00:00"),
                   born=BORN + 7_000)  # a later event of the order without status or payment: those are the create's
    land(p, tmp_path, [create(4242, "WAIT_BUYER_PAY", "1.00", "2026-11-12 10:00:00", BORN + 5_000, "X-LATER"), pay],
         "later")
    run_build(p, instance=instance)
    assert state(p) == ([("WAIT_BUYER_PAY", Decimal("1.00"), date(2026, 11, 12))],
                        [("WAIT_BUYER_PAY", Decimal("1.00"), 2, datetime(2026, 11, 12, 10))])

    land(p, tmp_path, [create(4242, "TRADE_CLOSED", "2.00", "2026-11-10 09:00:00", BORN, "X-EARLIER")], "earlier")
    report = run_build(p, instance=instance)
    assert report.runs == ["warehouse_job"]
    events, facts = state(p)
    assert events == [("TRADE_CLOSED", Decimal("2.00"), date(2026, 11, 10))]  # exactly one row: the copy born first
    assert facts == [("TRADE_CLOSED", Decimal("2.00"), 2, datetime(2026, 11, 10, 9))]
    assert report.reconciliation.holds and report.reconciliation.duplicates == 1

    before = snapshot(p)
    land(p, tmp_path, [create(4242, "TRADE_FINISHED", "3.00", "2026-11-13 09:00:00", BORN + 9_000, "X-LAST")], "last")
    report = run_build(p, instance=instance)
    assert report.runs == ["facts_job"]  # no event table changes
    assert snapshot(p) == before and state(p) == (events, facts)
    assert report.reconciliation.holds and report.reconciliation.duplicates == 2

    # Y: the later-born copy is ingested (its event row committed) but not folded or published yet when the
    # earlier-born one arrives
    land(p, tmp_path, [create(5252, "WAIT_BUYER_PAY", "1.00", "2026-11-12 10:00:00", BORN + 5_000, "Y-LATER", 52)],
         "y-later")
    with db.writer(p) as conn:
        steps.ingest(conn, p)
        assert conn.execute("SELECT count(*) FROM trade_events WHERE message_id = 5252").fetchone()[0] == 1
    land(p, tmp_path, [create(5252, "TRADE_CLOSED", "2.00", "2026-11-10 09:00:00", BORN, "Y-EARLIER", 52)],
         "y-earlier")
    report = run_build(p, instance=instance)
    assert state(p, tid=52, id=5252) == ([("TRADE_CLOSED", Decimal("2.00"), date(2026, 11, 10))],
                                         [("TRADE_CLOSED", Decimal("2.00"), 1, datetime(2026, 11, 10, 9))])
    assert report.reconciliation.holds and report.reconciliation.duplicates == 3


def test_the_run_covers_the_changed_dates_not_the_manifest_hints(tmp_path, instance):
    """The manifest's date hints are not trusted: the run's range is read from the dates the ingest changed, so a
    date the hints did not name is built by the same run instead of being left behind."""
    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": 7001}, pub_time="2026-11-09 10:00:00")),
               delivery(envelope("taobao_trade_TradeCreate", {"tid": 7002}, pub_time="2026-11-12 10:00:00"))]
    p = paths(tmp_path / "data")
    land(p, tmp_path, records, "f")
    manifest = p.landing / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert entries[0]["event_dates"] == ["2026-11-09", "2026-11-12"]
    entries[0]["event_dates"] = ["2026-11-09"]  # as if the hint had missed a date
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))

    report = run_build(p, instance=instance)
    assert report.runs == ["warehouse_job"]
    [run] = instance.get_runs()
    assert run.tags["dagster/asset_partition_range_end"] == "2026-11-12"
    conn = jushita_etl.connect(p.data_dir)
    try:
        assert conn.execute("SELECT tid, event_date FROM trade_events ORDER BY tid").fetchall() == [
            (7001, date(2026, 11, 9)), (7002, date(2026, 11, 12))]
        assert conn.execute("SELECT count(*) FROM fact_orders").fetchone()[0] == 2
    finally:
        conn.close()


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
