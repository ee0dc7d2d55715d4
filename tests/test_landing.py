"""The landing zone: durable Parquet micro-batches, exact bodies, bad lines skipped, crash safety."""

import base64
import json
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from support import concurrent_callbacks, delivery, envelope, write_replay

from jushita_etl.cli import main
from jushita_etl.landing.replay import land_files
from jushita_etl.landing.batches import read_manifest
from jushita_etl.simulate.feed import FeedConfig, write_feed


def landed(landing):
    entries, _ = read_manifest(landing)
    files = sorted({landing / e["file"] for e in entries})
    assert files == sorted(landing.glob("batches/*.parquet")), "every visible file is in the manifest"
    return pq.ParquetDataset([str(f) for f in files]).read() if files else None


def expected_bodies(path):
    out = {}
    for line in path.read_bytes().splitlines():
        r = json.loads(line)
        out[r["msg_id"]] = r["body"].encode() if "body" in r else base64.b64decode(r["body_base64"])
    return out


@pytest.fixture
def feed(tmp_path):
    path = tmp_path / "feed.jsonl"
    with open(path, "wb") as fh:
        write_feed(fh, FeedConfig(orders=1500, seed=11, malformed_rate=0.02))
    return path


def test_lands_every_delivery_byte_exact(tmp_path, feed):
    stats, report = land_files([str(feed)], tmp_path / "landing", quiet=True, flush_rows=5000)
    table = landed(tmp_path / "landing")
    want = expected_bodies(feed)
    got = dict(zip(table.column("mq_msg_id").to_pylist(), table.column("body").to_pylist()))
    assert got == want
    assert stats.batches > 1 and report.bad == []
    assert set(table.column_names) >= {"mq_msg_id", "mq_topic", "tags", "keys", "queue_id", "queue_offset",
                                       "born_timestamp", "reconsume_times", "body", "received_at", "batch_id"}


def test_landing_allocates_through_malloc(tmp_path, feed):
    """Landing switches Arrow from mimalloc to malloc (landing.writer.use_system_allocator: a second less of
    page faults per 1M deliveries); in a process of its own, so this test process keeps its allocator."""
    code = ("import sys, pyarrow as pa; from jushita_etl.landing.replay import land_files; "
            "land_files([sys.argv[1]], __import__('pathlib').Path(sys.argv[2]), quiet=True); "
            "print(pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code, str(feed), str(tmp_path / "landing")], check=True,
                         capture_output=True, text=True).stdout
    assert out.split() == ["system"]


def test_manifest_lists_event_dates_for_the_sensor(tmp_path, feed):
    land_files([str(feed)], tmp_path / "landing", quiet=True)
    entries, offset = read_manifest(tmp_path / "landing")
    assert offset == (tmp_path / "landing" / "manifest.jsonl").stat().st_size
    assert "2026-11-09" in entries[0]["event_dates"]
    assert read_manifest(tmp_path / "landing", offset) == ([], offset)


def test_bad_lines_reported_and_skipped(tmp_path, capsys):
    good = delivery(envelope("taobao_trade_TradeCreate", {"tid": 1}))
    raw = delivery(b"\x80\x81 not utf-8")
    lines = [json.dumps(good), "{not json", json.dumps({"msg_id": "X1", "topic": "t"}), "", json.dumps(raw)]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["land", "--data-dir", str(tmp_path / "d"), str(path)]) == 0
    err = capsys.readouterr().err
    assert f"{path}:2" in err and f"{path}:3" in err and "no body" in err
    table = landed(tmp_path / "d" / "landing")
    assert sorted(table.column("mq_msg_id").to_pylist()) == sorted([good["msg_id"], raw["msg_id"]])
    bodies = dict(zip(table.column("mq_msg_id").to_pylist(), table.column("body").to_pylist()))
    assert bodies[raw["msg_id"]] == b"\x80\x81 not utf-8"


def test_blank_lines_between_good_lines(tmp_path, capsys):
    """A file of valid lines with blank ones between them lands every delivery (and reports no bad line)."""
    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": tid})) for tid in (1, 2, 3)]
    path = tmp_path / "blank.jsonl"
    path.write_text(json.dumps(records[0]) + "\n\n" + json.dumps(records[1]) + "\n   \n" + json.dumps(records[2]) + "\n")
    assert main(["land", "--data-dir", str(tmp_path / "d"), str(path)]) == 0
    assert "0 bad line(s) skipped" in capsys.readouterr().out
    table = landed(tmp_path / "d" / "landing")
    assert sorted(table.column("mq_msg_id").to_pylist()) == sorted(r["msg_id"] for r in records)


def test_stdin_source(tmp_path, monkeypatch):
    path = write_replay(tmp_path / "one.jsonl", [delivery(envelope("taobao_trade_TradeCreate", {"tid": 7}))])
    result = subprocess.run([sys.executable, "-m", "jushita_etl.cli", "land", "--data-dir", str(tmp_path / "d"), "-"],
                            stdin=open(path, "rb"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert landed(tmp_path / "d" / "landing").num_rows == 1


def test_missing_file_is_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "jushita_etl.cli", "land", "--data-dir", str(tmp_path), "nope.jsonl"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == "jushita-etl: no such replay file: nope.jsonl"


@pytest.mark.parametrize("kill_after", [0.3, 0.8, 1.5, 2.5])
def test_sigkill_then_rerun_loses_nothing(tmp_path, kill_after):
    feed = tmp_path / "big.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=6000, seed=5))
    data = tmp_path / "d"
    cmd = [sys.executable, "-m", "jushita_etl.cli", "land", "--data-dir", str(data), "--flush-rows", "3000", str(feed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    table = landed(data / "landing")  # every listed file opens: none is partial
    assert set(table.column("mq_msg_id").to_pylist()) == set(expected_bodies(feed))
    assert not list((data / "landing" / "batches").glob("*.tmp"))


def _delivery(i: int):
    from jushita_etl.landing.segment import Delivery

    return Delivery(mq_msg_id=f"M{i:08d}", mq_topic="T", tags="t", keys=None, queue_id=i % 4, queue_offset=i,
                    born_timestamp=0, reconsume_times=0, body=b'{"i": %d}' % i)


def test_durable_log_returns_only_after_the_fsync_that_covers_the_record(tmp_path, monkeypatch):
    """The consumer's acknowledgement rule: append() returns once an fsync covered its bytes, for every one of
    many concurrent callbacks (one fsync serves several of them)."""
    import os

    import jushita_etl.landing.wal as wal

    fsynced: dict[int, int] = {}  # fd -> file size at its last fsync
    fsyncs = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        real_fsync(fd)
        fsynced[fd] = os.fstat(fd).st_size
        fsyncs.append(fd)

    monkeypatch.setattr(wal.os, "fsync", recording_fsync)
    log = wal.DurableLog(tmp_path / "landing", segment_seconds=60)
    errors = []

    def callback(i: int) -> None:
        log.append(_delivery(i))
        segment = log._segment_path.read_bytes()[:fsynced.get(log._segment.fileno(), 0)]
        if f"M{i:08d}".encode() not in segment:
            errors.append(i)

    concurrent_callbacks(callback)
    assert not errors, f"acknowledged before durable: {errors[:5]}"
    assert len(fsyncs) < 1600  # group commit: fewer fsyncs than records
    log.close()
    table = landed(tmp_path / "landing")
    assert sorted(table.column("mq_msg_id").to_pylist()) == [f"M{i:08d}" for i in range(1600)]


CHURN = """
import sys, time
from pathlib import Path
from jushita_etl.landing.segment import Delivery
from jushita_etl.landing.wal import DurableLog
landing, go, worker = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
for round_ in range(5):
    log = DurableLog(landing, segment_seconds=60)
    log.append(Delivery(mq_msg_id=f"M{worker * 10 + round_:08d}", mq_topic="T", tags="t", keys=None, queue_id=0,
                        queue_offset=round_, born_timestamp=0, reconsume_times=0, body=b"{}"))
    log.close()
"""


def test_logs_starting_and_stopping_side_by_side_never_take_each_others_directory(tmp_path):
    """Consumers of several groups land into one data directory, each starting (and recovering the logs of dead
    ones) while others start and stop. None may take a live log's directory for an orphan's: six processes each
    open, append to and close a log five times, all at once, and every one succeeds, every delivery is landed once,
    and no log directory is left behind."""
    landing, go = tmp_path / "landing", tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", CHURN, str(landing), str(go), str(worker)],
                                stderr=subprocess.PIPE, text=True) for worker in range(6)]
    time.sleep(1.0)  # the interpreters are up and waiting
    go.touch()
    failures = [err for err in (worker.communicate(timeout=120)[1] for worker in workers) if err]
    assert not failures, failures[0]
    assert all(worker.returncode == 0 for worker in workers)
    assert sorted(landed(landing).column("mq_msg_id").to_pylist()) == sorted(
        f"M{worker * 10 + round_:08d}" for worker in range(6) for round_ in range(5))
    assert not list((landing / "wal").iterdir())


def test_a_batch_being_committed_is_never_repaired_twice(tmp_path, monkeypatch):
    """A writer starting beside another (consumers of two groups in one data directory) repairs batches whose
    manifest line a crash lost. A batch the other writer has renamed into place but not yet listed is not one:
    the repair waits for that commit, and the manifest lists the batch once."""
    import threading

    import pyarrow as pa

    import jushita_etl.landing.batches as batches

    renamed, release = threading.Event(), threading.Event()
    real_fsync_dir = batches.fsync_dir

    def slow_fsync_dir(path):  # the committing writer pauses between its rename and its manifest line
        real_fsync_dir(path)
        renamed.set()
        release.wait(10)

    monkeypatch.setattr(batches, "fsync_dir", slow_fsync_dir)
    landing = tmp_path / "landing"
    committing, starting = batches.BatchStore(landing), batches.BatchStore(landing)
    columns = [field for field in batches.LANDING_SCHEMA if field.name != "batch_id"]
    row = {"mq_msg_id": "M1", "mq_topic": "T", "tags": "t", "keys": None, "queue_id": 0, "queue_offset": 0,
           "born_timestamp": 0, "reconsume_times": 0, "body": b"{}", "received_at": 0}
    table = pa.Table.from_pylist([row], schema=pa.schema(columns))
    commit = threading.Thread(target=committing.commit, args=(table, "B1"))
    commit.start()
    assert renamed.wait(10)
    repair = threading.Thread(target=starting.repair)
    repair.start()
    repair.join(0.5)
    assert repair.is_alive(), "the repair went ahead while a batch was between its rename and its line"
    release.set()
    commit.join(10)
    repair.join(10)
    assert [entry["batch_id"] for entry in read_manifest(landing)[0]] == ["B1"]


def test_durable_log_failure_raises_in_every_waiting_callback(tmp_path, monkeypatch):
    """A failed fsync must never acknowledge: every callback waiting on it raises (the broker redelivers)."""
    import threading

    import jushita_etl.landing.wal as wal

    def failing_fsync(fd):
        raise OSError(5, "I/O error")

    log = wal.DurableLog(tmp_path / "landing", segment_seconds=60)
    monkeypatch.setattr(wal.os, "fsync", failing_fsync)
    outcomes = []

    def callback(i: int) -> None:
        try:
            log.append(_delivery(i))
            outcomes.append("acknowledged")
        except RuntimeError:
            outcomes.append("failed")

    threads = [threading.Thread(target=callback, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes == ["failed"] * 8
    with pytest.raises(RuntimeError, match="I/O error"):
        log.append(_delivery(99))


def test_native_segment_reader_equals_the_python_reader(tmp_path):
    """The compactor's two readers of a log segment give the same table: empty, NUL and invalid-UTF-8 texts, null
    tags and keys, empty and binary bodies, and a torn tail (dropped by both)."""
    import struct
    import zlib

    from jushita_etl.landing import segment as layout

    deliveries = [layout.Delivery(f"M{i:030X}", topic, tags, keys, i % 4, i, 1_700_000_000_000 + i, i % 3, body)
                  for i, (topic, tags, keys, body) in enumerate([
                      ("T", "taobao_trade_TradeCreate", None, b'{"id": 1}'),
                      ("", None, "k1 k2", b""),
                      ("T\x00nul", "", "", b"\x00\xff\xfe binary"),
                      ("长", "标签", None, "正文".encode() * 300)] * 50)]
    records = [layout.encode(d, 1_700_000_000_000 + i) for i, d in enumerate(deliveries)]
    # a record whose topic is not UTF-8 (the client hands over whatever bytes a producer sent)
    payload = (layout.FIXED.pack(0, 9, 9, 9, 0) + struct.pack("<i", 1) + b"X" + struct.pack("<i", 2) + b"\xff\xfe"
               + struct.pack("<i", -1) + struct.pack("<i", -1) + b"body")
    records.append(layout.HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    segment = tmp_path / "0001.wal"
    segment.write_bytes(b"".join(records) + records[3][:40])  # the tail of a record torn by a crash
    native, python = layout.read_segment_native(segment), layout.read_segment_python(segment)
    assert native.num_rows == len(deliveries) + 1
    assert native.equals(python)
    assert native.column("mq_topic")[-1].as_py() == "\ufffd\ufffd"
    empty = tmp_path / "0002.wal"
    empty.write_bytes(b"")
    assert layout.read_segment_native(empty).equals(layout.read_segment_python(empty))


def test_closing_a_log_compacts_a_segment_left_unannounced(tmp_path):
    """A segment that was closed but never handed to the compactor (the native writer out of memory) is still
    landed when the log closes, and the log's directory goes away."""
    from jushita_etl.landing import segment
    from jushita_etl.mq.landing_callback import NativeLandingLog

    log = NativeLandingLog(tmp_path / "landing", segment_seconds=60)
    assert log.append_record(segment.encode(_delivery(1), 1_700_000_000_000))
    (log.dir / "00000000000000000000-stray.wal").write_bytes(segment.encode(_delivery(2), 1_700_000_000_000))
    log_dir = log.dir
    log.close()
    assert sorted(landed(tmp_path / "landing").column("mq_msg_id").to_pylist()) == ["M00000001", "M00000002"]
    assert not log_dir.exists()
