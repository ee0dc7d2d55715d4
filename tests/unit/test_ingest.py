"""The ingest (jushita_etl.warehouse.steps.ingest), without Dagster, on the simulator's feed: one transaction that
leaves nothing behind when it fails, transactions of bounded size that write what one would, and a fast parse that
trusts object-shaped JSON giving what the validating parse gives."""

import os

import pytest

from jushita_etl.landing.replay import land_files
from jushita_etl.settings import lake as lake_settings, paths
from jushita_etl.warehouse import db, landed, steps


def _ingested(p) -> dict[str, list]:
    """What an ingest wrote, except what differs between two landings of one feed (batch ids, landing times)."""
    with db.writer(p) as conn:
        return {query: conn.execute(query).fetchall() for query in [
            "SELECT mq_msg_id, message_id, topic, reason, detail, body FROM quarantine ORDER BY mq_msg_id",
            *[f"SELECT * FROM {table.name} ORDER BY message_id" for table in steps.EVENT_TABLES],
            "SELECT * FROM etl.dirty_keys ORDER BY ALL",
            "SELECT * FROM etl.event_changes ORDER BY ALL",
            "SELECT rows FROM etl.ingested_batches ORDER BY 1",
            "SELECT mq_msg_id, row_in_file, born_timestamp, reason, message_id, domain, event_date FROM etl.deliveries "
            "ORDER BY mq_msg_id",
        ]}


def test_an_ingest_that_fails_before_its_commit_leaves_nothing_and_the_next_completes_it(tmp_path, simulated_feed,
                                                                                        monkeypatch):
    """The ingest is one transaction (steps._ingest_batches): when it fails after the parse, the deliveries, the
    event rows and the quarantine rows written so far are rolled back, and the next ingest must bring in exactly
    what one ingest that did not fail does: the event rows, their dirty keys and changed dates included."""
    from jushita_etl.warehouse import sql

    clean, failed = paths(tmp_path / "clean"), paths(tmp_path / "failed")
    for p in (clean, failed):
        land_files([str(simulated_feed)], p.landing, quiet=True)
    with db.writer(clean) as conn:
        steps.ingest(conn, clean)

    real_run = sql.run

    def disk_full_after_the_quarantine(conn, name, params=None):
        real_run(conn, name, params)
        if name == "internal/quarantine_deliveries":  # after the parse, the events, the deliveries and the quarantine
            raise OSError("No space left on device")

    monkeypatch.setattr(sql, "run", disk_full_after_the_quarantine)
    with pytest.raises(OSError), db.writer(failed) as conn:
        steps.ingest(conn, failed)
    monkeypatch.undo()
    with db.writer(failed) as conn:
        for table in ["etl.deliveries", "trade_events", "etl.dirty_keys", "etl.event_changes", "etl.ingested_batches",
                      "quarantine"]:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        assert steps.ingest(conn, failed) > 0
    ingested = _ingested(failed)
    assert ingested == _ingested(clean)
    assert len(ingested[next(q for q in ingested if "etl.deliveries" in q)]) > 10_000


def test_trusting_object_shaped_json_parses_like_validating_it(tmp_path, simulated_feed):
    """The ingest's first parse trusts that object-shaped text is JSON (steps.ingest); on the simulator's feed,
    whose malformed bodies are all truncated or plain text, it must give exactly what the validating parse gives."""
    p = paths(tmp_path / "data")
    land_files([str(simulated_feed)], p.landing, quiet=True)
    ingested = {}
    for validate in (False, True):
        lakehouse = paths(tmp_path / f"validate-{validate}")  # a lake of its own, over the same landed batches
        conn = db.open_writer_connection(lakehouse)
        try:
            db.prepare(conn)
            landed.ship(conn, p, lake_settings(lakehouse))
            new = steps.new_batches(conn)
            steps._ingest_batches(conn, new, validate_json=validate)
            ingested[validate] = [conn.execute(query).fetchall() for query in [
                "SELECT reason, * EXCLUDE (batch_id, reason) FROM etl.deliveries ORDER BY mq_msg_id",
                *[f"SELECT * FROM {table.name} ORDER BY message_id" for table in steps.EVENT_TABLES],
                "SELECT * EXCLUDE (received_at) FROM quarantine ORDER BY mq_msg_id"]]
        finally:
            conn.close()
    deliveries = ingested[True][0]
    assert len(deliveries) > 10_000 and any(row[0] == "body_not_json" for row in deliveries)
    assert ingested[False] == ingested[True]



def test_an_ingest_in_chunks_writes_what_one_ingest_writes(tmp_path, simulated_feed, monkeypatch):
    """New batches are ingested in transactions of at most INGEST_CHUNK_ROWS landed rows (a rebuild of months of
    history must not hold all of it in memory): each chunk deduplicates against the chunks before it, so the
    warehouse is the one a single transaction writes, and the reconciliation still holds."""
    whole, chunked = paths(tmp_path / "whole"), paths(tmp_path / "chunked")
    for p in (whole, chunked):
        land_files([str(simulated_feed)], p.landing, quiet=True, flush_rows=2_000)
    with db.writer(whole) as conn:
        steps.ingest(conn, whole)
    monkeypatch.setattr(steps, "INGEST_CHUNK_ROWS", 5_000)
    with db.writer(chunked) as conn:
        landed.ship(conn, chunked, lake_settings(chunked))
        assert len(steps._chunks(steps.new_batches(conn))) > 2
        steps.ingest(conn, chunked)
        assert steps.reconcile(conn).holds
    once, in_chunks = _ingested(whole), _ingested(chunked)
    # a date two chunks both touched is noted twice: the event step takes each once
    changes = "SELECT * FROM etl.event_changes ORDER BY ALL"
    assert set(in_chunks.pop(changes)) == set(once.pop(changes))
    # the very first ingest marks no key dirty (every fact and scenario table is empty, so folded whole); the
    # chunks after the first mark theirs
    dirty = "SELECT * FROM etl.dirty_keys ORDER BY ALL"
    assert once.pop(dirty) == [] and in_chunks.pop(dirty)
    assert in_chunks == once


def test_the_manifest_is_read_from_the_shipped_mark_and_a_new_catalog_is_shipped_everything(tmp_path,
                                                                                          small_simulated_feed,
                                                                                          monkeypatch):
    """Shipping (landed.ship, at the start of every ingest) and the planner read the landing manifest only after
    the shipped mark: a consumer running for weeks must not make every build read every line it ever landed. A new
    catalog over the same landing zone (`jushita-etl rebuild` sets the lake aside) does not list the mark's last
    batch, so every batch is shipped to it again."""
    p = paths(tmp_path / "data")
    land_files([str(small_simulated_feed)], p.landing, quiet=True, flush_rows=500)
    manifest = p.landing / "manifest.jsonl"
    offsets = []
    read = landed.read_manifest

    def reading(landing, offset=0):
        offsets.append(offset)
        return read(landing, offset)

    monkeypatch.setattr(landed, "read_manifest", reading)
    with db.writer(p) as conn:
        first = steps.ingest(conn, p)
        assert first > 2 and offsets == [0]
        shipped = manifest.stat().st_size
        assert landed.unshipped(conn, p.landing) == [] and offsets[-1] == shipped
    land_files([str(small_simulated_feed)], p.landing, quiet=True, flush_rows=500)  # redelivered in new batches
    with db.writer(p) as conn:
        again = landed.unshipped(conn, p.landing)
        assert offsets[-1] == shipped and len(again) == first
        assert steps.ingest(conn, p) == first and offsets[-1] == shipped
        assert landed.unshipped(conn, p.landing) == [] and offsets[-1] == manifest.stat().st_size
    os.replace(p.lake_dir, tmp_path / "aside")
    with db.writer(p) as conn:
        assert steps.ingest(conn, p) == 2 * first
        assert steps.reconcile(conn).holds
