"""Whole builds: idempotence, re-landing, overlapping chunks, full vs incremental, readers during builds."""

import json
import subprocess
import sys
import textwrap
import time

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


def test_second_build_is_a_fast_no_op(one_build):
    p, before, instance = one_build
    started = time.perf_counter()
    report = run_build(p, instance=instance)
    assert report.nothing_new and report.runs == []
    assert time.perf_counter() - started < 2.0
    assert snapshot(p) == before


def test_relanding_changes_only_raw_messages(one_build, feed):
    p, before, instance = one_build
    conn = duckdb.connect(str(p.warehouse), read_only=True)
    raw_before = conn.execute("SELECT count(*) FROM raw_messages").fetchone()[0]
    conn.close()
    land_files([str(feed)], p.landing, quiet=True)
    report = run_build(p, instance=instance)
    assert report.runs == ["ingest_job", "facts_job"]  # no event date was touched by known deliveries
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


def test_reader_holds_the_file_across_builds(tmp_path, feed, instance):
    p = paths(tmp_path / "data")
    land_files([str(feed)], p.landing, quiet=True)
    run_build(p, instance=instance)
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, json, sys, time
        conn = duckdb.connect({str(p.warehouse)!r}, read_only=True)
        counts = []
        print("open", flush=True)
        for _ in range(40):
            counts.append(conn.execute("SELECT count(*) FROM trade_events").fetchone()[0])
            time.sleep(0.1)
        print(json.dumps(counts), flush=True)
    """)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "open"
    more = tmp_path / "more.jsonl"
    with open(more, "wb") as fh:
        write_feed(fh, FeedConfig(orders=300, seed=99, start="2026-11-20"))
    land_files([str(more)], p.landing, quiet=True)
    started = time.perf_counter()
    report = run_build(p, instance=instance)  # must neither fail nor wait for the reader
    assert time.perf_counter() - started < 30
    counts = json.loads(reader.stdout.readline())
    assert reader.wait() == 0
    assert len(set(counts)) == 1, "the reader keeps one consistent snapshot"
    assert report.tables["trade_events"] > counts[0], "a new connection sees the new build"
