"""The real RocketMQ C++ client against the dev broker: publish, consume, land — and the failures around it."""

import resource
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest
from mq_support import (CLI, BrokerProcess, consumer, durable_count, landed, landed_rows, replay_bodies, run, wait_for)
from support import concurrent_callbacks

from jushita_etl.simulate.feed import FeedConfig, write_feed

BULK = "BULK"


@contextmanager
def file_size_limit(limit: int):
    """While inside, a write that would grow a file past ``limit`` bytes fails with EFBIG (SIGXFSZ, which would
    kill the process, is ignored)."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = BrokerProcess("--store", str(tmp_path_factory.mktemp("broker-store")))
    yield b
    b.stop()


@pytest.fixture(autouse=True)
def broker_outlives_the_test(request):
    """The module's broker serves every test after this one: a test that kills it fails here, with its output."""
    yield
    if "broker" in request.fixturenames:
        request.getfixturevalue("broker").assert_alive()


@pytest.fixture(scope="module")
def bulk(broker, tmp_path_factory):
    """20k simulated deliveries published once to topic BULK through the real producer."""
    feed = tmp_path_factory.mktemp("bulk") / "feed.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=2000, seed=8, malformed_rate=0.01))
    lines = feed.read_bytes().splitlines(keepends=True)[:20_000]
    feed.write_bytes(b"".join(lines))
    result = run("publish", str(feed), "--namesrv", broker.address, "--topic", BULK,
                 "--data-dir", str(tmp_path_factory.mktemp("pub")))
    assert result.returncode == 0, result.stderr
    return feed


def test_publish_consume_land_bodies_identical(broker, bulk, tmp_path):
    result = run("consume", "--data-dir", str(tmp_path), "--namesrv", broker.address, "--group", "G-all",
                 "--topic", BULK, "--idle-timeout", "4")
    assert result.returncode == 0, result.stderr
    assert landed(tmp_path) == replay_bodies(bulk)
    assert "landed" in result.stdout


def test_tag_filter(broker, bulk, tmp_path):
    wanted = {"taobao_refund_RefundCreated", "taobao_item_ItemAdd"}
    result = run("consume", "--data-dir", str(tmp_path), "--namesrv", broker.address, "--group", "G-tags",
                 "--topic", BULK, "--tags", " || ".join(sorted(wanted)), "--idle-timeout", "4")
    assert result.returncode == 0, result.stderr
    rows = landed_rows(tmp_path)
    assert rows and {r["tags"] for r in rows} == wanted


def test_sigkill_consumer_then_restart_lands_everything(broker, bulk, tmp_path):
    proc = consumer(tmp_path, broker.address, "G-kill", BULK, "--threads", "4")
    try:
        # polled often: the consumer lands the 20k in about half a second, so a quarter-second poll could see the
        # first 2,000 only after the last one and kill a consumer that had nothing left to lose
        assert wait_for(lambda: durable_count(tmp_path) > 2000, 60, interval=0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert durable_count(tmp_path) < 20_000, "killed mid-stream"
    result = run("consume", "--data-dir", str(tmp_path), "--namesrv", broker.address, "--group", "G-kill",
                 "--topic", BULK, "--idle-timeout", "4")
    assert result.returncode == 0, result.stderr
    assert "recovered" in result.stdout  # the dead consumer's acknowledged log was compacted
    assert landed(tmp_path) == replay_bodies(bulk)


def test_two_consumers_split_then_one_takes_over(broker, bulk, tmp_path):
    a = consumer(tmp_path / "a", broker.address, "G-pair", BULK, "--threads", "2")
    b = consumer(tmp_path / "b", broker.address, "G-pair", BULK, "--threads", "2")
    try:
        assert wait_for(lambda: durable_count(tmp_path / "a") > 300 and durable_count(tmp_path / "b") > 300, 60), \
            "both members of the group get queues"
        a.send_signal(signal.SIGKILL)
        a.wait()
        expected = replay_bodies(bulk)
        assert wait_for(lambda: landed_in_flight(tmp_path / "a") | landed_in_flight(tmp_path / "b") >= set(expected), 120), \
            "the survivor takes over the dead member's queues"
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=60)
    assert b.returncode == 0
    run("consume", "--data-dir", str(tmp_path / "a"), "--namesrv", broker.address, "--group", "G-pair-recovery",
        "--topic", "EMPTY", "--idle-timeout", "1")  # any start compacts the killed consumer's log
    assert {**landed(tmp_path / "a"), **landed(tmp_path / "b")} == expected


def landed_in_flight(data_dir):
    from jushita_etl.landing.segment import read_segment

    ids = set(landed(data_dir))
    for segment in (data_dir / "landing" / "wal").glob("*/*.wal"):
        try:
            ids |= set(read_segment(segment).column("mq_msg_id").to_pylist())
        except FileNotFoundError:
            pass
    return ids


def test_broadcasting_each_consumer_gets_everything(broker, tmp_path):
    # A broadcasting consumer keeps its offsets locally and starts at the end of the queues, so it gets what is
    # published while it runs.
    feed = tmp_path / "feed.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=150, seed=4))
    procs = {name: consumer(tmp_path / name, broker.address, "G-bcast", "BCAST", "--model", "broadcasting")
             for name in ("x", "y")}
    try:
        time.sleep(3)
        assert run("publish", str(feed), "--namesrv", broker.address, "--topic", "BCAST",
                   "--data-dir", str(tmp_path / "p")).returncode == 0
        expected = replay_bodies(feed)
        assert wait_for(lambda: all(landed_in_flight(tmp_path / n) >= set(expected) for n in procs), 60)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    assert all(proc.returncode == 0 for proc in procs.values())
    assert landed(tmp_path / "x") == expected and landed(tmp_path / "y") == expected


def test_wrong_secret_is_a_clear_error(tmp_path):
    secured = BrokerProcess("--secret", "right-secret")
    try:
        result = run("consume", "--data-dir", str(tmp_path), "--namesrv", secured.address, "--group", "G",
                     "--topic", "T", "--access-key", "appkey", "--idle-timeout", "2",
                     env={"JUSHITA_MQ_SECRET_KEY": "wrong-secret"})
        assert result.returncode == 1
        assert "rejected the credentials" in result.stderr and "Traceback" not in result.stderr
        assert "wrong-secret" not in result.stderr + result.stdout
        ok = run("consume", "--data-dir", str(tmp_path), "--namesrv", secured.address, "--group", "G",
                 "--topic", "T", "--access-key", "appkey", "--idle-timeout", "2",
                 env={"JUSHITA_MQ_SECRET_KEY": "right-secret"})
        assert ok.returncode == 0, ok.stderr
    finally:
        secured.stop()


def test_reconsume_later_redelivers(broker, tmp_path):
    """A callback that cannot make a message durable answers RECONSUME_LATER; the broker sends it again."""
    from jushita_etl.landing.wal import DurableLog
    from jushita_etl.mq.settings import MQSettings
    from jushita_etl.mq.source import MQConsumer, MQProducer

    with MQProducer(broker.address, log_dir=tmp_path / "logs") as producer:
        for i in range(20):
            producer.send("FLAKY", f'{{"n": {i}}}'.encode(), tags="t", keys=None, msg_id=f"FLAKY-{i:02d}")

    class FlakyLog(DurableLog):
        flaked = set()

        def append(self, delivery):
            if delivery.mq_msg_id.endswith("7") and delivery.mq_msg_id not in self.flaked:
                self.flaked.add(delivery.mq_msg_id)
                raise OSError("disk full (simulated)")
            super().append(delivery)

    log = FlakyLog(tmp_path / "landing")
    mq = MQConsumer(MQSettings(broker.address, "G-flaky", "FLAKY", threads=2), log, log_dir=tmp_path / "logs")
    mq.start()
    try:
        assert wait_for(lambda: {"FLAKY-07", "FLAKY-17"} <= {r for r in _durable_ids(log)}, 60)
    finally:
        mq.shutdown()
        log.close()
    rows = landed_rows(tmp_path)
    assert {r["mq_msg_id"] for r in rows} == {f"FLAKY-{i:02d}" for i in range(20)}
    assert all(r["reconsume_times"] >= 1 for r in rows if r["mq_msg_id"] in ("FLAKY-07", "FLAKY-17"))


def _durable_ids(log):
    from jushita_etl.landing.segment import read_segment

    ids = set()
    for segment in log.dir.glob("*.wal"):
        try:
            ids |= set(read_segment(segment).column("mq_msg_id").to_pylist())
        except FileNotFoundError:
            pass
    return ids | {r["mq_msg_id"] for r in landed_rows(log.store.root.parent)}


def test_broker_restart_resumes_without_loss(tmp_path):
    store = tmp_path / "store"
    first = BrokerProcess("--store", str(store))
    feed = tmp_path / "feed.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=300, seed=2))
    lines = feed.read_bytes().splitlines(keepends=True)
    part1, part2 = tmp_path / "p1.jsonl", tmp_path / "p2.jsonl"
    part1.write_bytes(b"".join(lines[: len(lines) // 2]))
    part2.write_bytes(b"".join(lines[len(lines) // 2:]))
    assert run("publish", str(part1), "--namesrv", first.address, "--topic", "RESTART", "--data-dir", str(tmp_path / "p")).returncode == 0
    proc = consumer(tmp_path / "c", first.address, "G-restart", "RESTART", "--threads", "2")
    try:
        assert wait_for(lambda: durable_count(tmp_path / "c") >= len(replay_bodies(part1)), 60)
        first.stop(signal.SIGKILL)
        time.sleep(1)
        second = BrokerProcess("--store", str(store), port=first.port)
        try:
            assert run("publish", str(part2), "--namesrv", second.address, "--topic", "RESTART",
                       "--data-dir", str(tmp_path / "p")).returncode == 0
            # in-flight long polls are only retried after the client's 30 s pull timeout
            assert wait_for(lambda: set(landed_in_flight(tmp_path / "c")) >= set(replay_bodies(feed)), 120)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
            second.stop()
    finally:
        first.stop()
    assert landed(tmp_path / "c") == replay_bodies(feed)


def test_bounded_consume_run_in_dagster(broker, tmp_path, instance):
    """The sensor-launched job: a bounded consume session that reports what it landed."""
    from jushita_etl.defs.mq.jobs import consume_job
    from jushita_etl.defs.resources import MQResource, WarehouseResource
    from jushita_etl.mq.source import MQProducer

    with MQProducer(broker.address, log_dir=tmp_path / "logs") as producer:
        for i in range(300):
            producer.send("DAGSTER", b'{"n": %d}' % i, tags="t", keys=None, msg_id=f"DG-{i:03d}")
    result = consume_job.execute_in_process(
        instance=instance,
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
                   "mq": MQResource(namesrv=broker.address, group="G-dagster", topic="DAGSTER", threads=4)},
        run_config={"ops": {"consume_bounded": {"config": {"idle_timeout": 3, "max_seconds": 60}}}})
    assert result.success
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")  # carries the run's numbers
    metadata = output.event_specific_data.metadata
    assert metadata["deliveries_landed"].value == 300 and metadata["stopped_by"].value == "idle"
    assert metadata["rate_per_s"].value > 0
    assert set(landed(tmp_path / "data")) == {f"DG-{i:03d}" for i in range(300)}


def test_batch_body_splits_into_the_messages_the_client_encoded():
    """The layout SendBatchMessage puts on the wire (captured from the client): per message total size, magic,
    body CRC, flag, body length, body, properties length, properties."""
    import struct

    from jushita_etl.mq.remoting import split_batch

    def encoded(flag: int, body: bytes, props: str) -> bytes:
        p = props.encode()
        return struct.pack(">iiiii", 20 + len(body) + 2 + len(p), 0, 0, flag, len(body)) + body + struct.pack(">h", len(p)) + p

    one = encoded(0, b"body-0\x00x", "KEYS\x01k0\x02TAGS\x01TagA\x02UNIQ_KEY\x01AB\x02")
    two = encoded(3, "{\"n\": \"是\"}".encode(), "TAGS\x01TagB\x02")
    assert split_batch(one + two) == [(0, b"body-0\x00x", "KEYS\x01k0\x02TAGS\x01TagA\x02UNIQ_KEY\x01AB\x02"),
                                      (3, "{\"n\": \"是\"}".encode(), "TAGS\x01TagB\x02")]
    assert split_batch(b"") == []
    with pytest.raises(ValueError, match="malformed batch"):  # a zero size must not loop forever
        split_batch(struct.pack(">iiiii", 0, 0, 0, 0, 0) + b"\x00\x00")


def test_publish_batches_spread_small_files_and_cap_large_ones():
    from jushita_etl.mq.publish import MAX_BATCH, MAX_BATCH_BYTES, SPREAD, batches
    from jushita_etl.mq.source import OutgoingMessage

    small = [OutgoingMessage(b"x") for _ in range(20)]
    assert len(batches(small)) >= SPREAD and [m for run in batches(small) for m in run] == small
    large = [OutgoingMessage(b"y" * 100) for _ in range(10_000)]
    assert max(len(run) for run in batches(large)) == MAX_BATCH
    heavy = [OutgoingMessage(b"z" * (MAX_BATCH_BYTES // 3)) for _ in range(7)]
    assert all(sum(len(m.body) for m in run) <= MAX_BATCH_BYTES for run in batches(heavy))
    assert [m for run in batches(heavy) for m in run] == heavy
    assert batches([]) == []


def test_batch_send_keeps_each_message_tags_keys_and_bytes(broker, tmp_path):
    from jushita_etl.mq.source import MQProducer, OutgoingMessage

    with MQProducer(broker.address, log_dir=tmp_path / "logs") as producer:
        producer.send_batch("BATCHED", [
            OutgoingMessage(b'{"n": 0}\x00tail', tags="A", keys="k0", msg_id="BATCH-0"),
            OutgoingMessage(b"\xff\xfe not utf-8", tags="B", keys=None, msg_id="BATCH-1"),
            OutgoingMessage(b"{}", tags=None, keys="k2", msg_id="BATCH-2"),
        ])
    result = run("consume", "--data-dir", str(tmp_path), "--namesrv", broker.address, "--group", "G-batch",
                 "--topic", "BATCHED", "--idle-timeout", "3")
    assert result.returncode == 0, result.stderr
    rows = {r["mq_msg_id"]: r for r in landed_rows(tmp_path)}
    assert {k: (r["body"], r["tags"], r["keys"]) for k, r in rows.items()} == {
        "BATCH-0": (b'{"n": 0}\x00tail', "A", "k0"),
        "BATCH-1": (b"\xff\xfe not utf-8", "B", None),
        "BATCH-2": (b"{}", None, "k2"),
    }


def _delivery(i: int):
    from jushita_etl.landing.segment import Delivery

    return Delivery(mq_msg_id=f"N{i:06d}", mq_topic="T", tags=None if i % 3 == 0 else f"tag{i % 5}", keys=None,
                    queue_id=i % 4, queue_offset=i, born_timestamp=1_700_000_000_000 + i, reconsume_times=i % 2,
                    body=b'{"i": %d}\x00\xff' % i)


def test_native_log_acknowledges_written_records_with_grouped_syncs(tmp_path):
    """The native callback's log: an append returns only once its record is in the segment, many concurrent
    appends share each fdatasync, and compaction turns the records into exactly the deliveries given."""
    from jushita_etl.landing.segment import encode
    from jushita_etl.mq.landing_callback import NativeLandingLog

    log = NativeLandingLog(tmp_path / "landing", segment_seconds=60)
    late = []

    def callback(i: int) -> None:
        record = encode(_delivery(i), 1_800_000_000_000)
        assert log.append_record(record)
        if record not in b"".join(p.read_bytes() for p in log.dir.glob("*.wal")):
            late.append(i)

    concurrent_callbacks(callback)
    counts = log.stats()
    log.close()
    assert not late, f"acknowledged before written: {late[:5]}"
    assert (counts.landed, counts.rejected) == (1600, 0)
    assert 0 < counts.syncs < 1600  # group commit
    assert not log.append_record(encode(_delivery(0), 0)), "a closed log refuses records"
    rows = {r["mq_msg_id"]: r for r in landed_rows(tmp_path)}
    assert len(rows) == 1600
    for i in (0, 1, 799, 1599):
        d, row = _delivery(i), rows[f"N{i:06d}"]
        assert (row["mq_topic"], row["tags"], row["keys"], row["queue_id"], row["queue_offset"], row["born_timestamp"],
                row["reconsume_times"], row["body"]) == (d.mq_topic, d.tags, d.keys, d.queue_id, d.queue_offset,
                                                         d.born_timestamp, d.reconsume_times, d.body)
        assert row["received_at"].timestamp() * 1000 == 1_800_000_000_000


def test_native_log_never_acknowledges_what_it_could_not_write(tmp_path):
    """A failed write (here: the file size limit) refuses that record and every later one, close says why,
    and the next log start recovers every acknowledged record from the segment left behind."""
    from jushita_etl.landing.segment import encode
    from jushita_etl.mq.landing_callback import NativeLandingLog

    log = NativeLandingLog(tmp_path / "landing", segment_seconds=60)
    acknowledged, refused = [], []
    with file_size_limit(16 << 10):
        for i in range(1000):
            (acknowledged if log.append_record(encode(_delivery(i), 0)) else refused).append(i)
    assert acknowledged and refused and max(acknowledged) < min(refused)
    with pytest.raises(RuntimeError, match="File too large"):
        log.close()
    recovered = NativeLandingLog(tmp_path / "landing")
    recovered.close()
    landed_ids = {r["mq_msg_id"] for r in landed_rows(tmp_path)}
    assert {f"N{i:06d}" for i in acknowledged} <= landed_ids


def _publish_numbered(address: str, topic: str, count: int, log_dir) -> set[str]:
    from jushita_etl.mq.source import MQProducer

    with MQProducer(address, log_dir=log_dir) as producer:
        for i in range(count):
            producer.send(topic, b'{"n": %d, "pad": "%s"}' % (i, b"x" * 400), tags="t", keys=None,
                          msg_id=f"{topic}-{i:04d}")
    return {f"{topic}-{i:04d}" for i in range(count)}


def test_a_pulled_batch_is_acknowledged_after_one_sync(broker, tmp_path):
    """With the native callback the client's listener runs each pulled batch through consume_batch (jwal_batch_acks):
    the messages are appended without waiting and the batch waits once. One consume thread waiting per message
    would need one fsync per message; here a backlog is landed with far fewer."""
    from jushita_etl.mq import landing_callback
    from jushita_etl.mq.landing_callback import NativeLandingLog
    from jushita_etl.mq.settings import MQSettings
    from jushita_etl.mq.source import MQConsumer

    ids = _publish_numbered(broker.address, "ONESYNC", 300, tmp_path / "logs")
    log = NativeLandingLog(tmp_path / "landing", segment_seconds=60)
    assert landing_callback.batch_acks
    mq = MQConsumer(MQSettings(broker.address, "G-onesync", "ONESYNC", threads=1), log, log_dir=tmp_path / "logs")
    mq.start()
    try:
        assert wait_for(lambda: log.stats().landed >= 300, 60)
    finally:
        mq.shutdown()
        log.close()
    counts, rows = log.stats(), landed_rows(tmp_path)
    assert counts.landed == len(rows) >= 300 and counts.rejected == 0  # a redelivered copy may land twice
    assert {r["mq_msg_id"] for r in rows} == ids
    assert counts.syncs < counts.landed / 2, f"{counts.syncs} syncs for {counts.landed} messages on one consume thread"


def test_a_batch_the_log_could_not_sync_is_held_and_delivered_again(broker, tmp_path):
    """When the log fails mid-stream (the file size limit), no batch is answered any more: the consumer holds
    them and ends its process (exit 1, saying why) without the client's shutdown, so nothing is sent back and no
    offset passes them. A second consumer in the group then lands everything the first did not."""
    from jushita_etl.mq.landing_callback import NativeLandingLog

    ids = _publish_numbered(broker.address, "SYNCFAIL", 400, tmp_path / "logs")

    def limited_files():  # in the first consumer's process only
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 << 10, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    first = subprocess.Popen([*CLI, "consume", "--data-dir", str(tmp_path / "a"), "--namesrv", broker.address,
                              "--group", "G-syncfail", "--topic", "SYNCFAIL", "--threads", "2", "--duration", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limited_files)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 1 and "File too large" in err and "Traceback" not in err, err
    NativeLandingLog(tmp_path / "a" / "landing").close()  # recovers what the failed log had made durable
    landed_first = {r["mq_msg_id"] for r in landed_rows(tmp_path / "a")}
    assert 0 < len(landed_first) < len(ids)

    second = consumer(tmp_path / "b", broker.address, "G-syncfail", "SYNCFAIL")  # its own process and client
    try:
        complete = wait_for(lambda: landed_first | set(landed(tmp_path / "b")) >= ids, 90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    missing = ids - landed_first - set(landed(tmp_path / "b"))
    assert complete and not missing, f"acknowledged but never landed: {sorted(missing)[:10]} ({len(missing)})"
    assert {r["reconsume_times"] for r in landed_rows(tmp_path / "b")} == {0}  # nothing was sent back


def test_line_ranges_cover_the_file_in_whole_lines(tmp_path):
    from jushita_etl.mq.publish import line_ranges

    path = tmp_path / "lines.jsonl"
    lines = [b"x" * (i * 37 % 200) + b"\n" for i in range(500)] + [b"last line without newline"]
    path.write_bytes(b"".join(lines))
    data = path.read_bytes()
    for parts in (1, 2, 3, 7, 600):
        ranges = line_ranges(str(path), parts)
        assert 1 <= len(ranges) <= parts
        assert b"".join(data[start:end] for start, end, _ in ranges) == data
        for start, end, first_line in ranges:
            assert start == 0 or data[start - 1:start] == b"\n"
            assert first_line == data[:start].count(b"\n") + 1
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert line_ranges(str(tmp_path / "empty.jsonl"), 2) == []


def test_several_producers_send_every_line_once(broker, tmp_path):
    """publish --producers 3: each producer process sends one range of the file; every good line arrives once,
    a bad line is reported with its line number in the whole file."""
    feed = tmp_path / "feed.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=60, seed=21))
    lines = feed.read_bytes().splitlines(keepends=True)
    bad_at = len(lines) * 2 // 3  # past the first range: its line number counts the lines before that range
    lines.insert(bad_at, b"{not json\n")
    feed.write_bytes(b"".join(lines))
    result = run("publish", str(feed), "--namesrv", broker.address, "--topic", "PARALLEL", "--producers", "3",
                 "--data-dir", str(tmp_path / "pub"))
    assert result.returncode == 0, result.stderr
    assert "by 3 producers" in result.stdout
    assert f"feed.jsonl:{bad_at + 1}: not JSON" in result.stderr
    feed.write_bytes(b"".join(line for line in lines if line != b"{not json\n"))
    result = run("consume", "--data-dir", str(tmp_path / "out"), "--namesrv", broker.address, "--group", "G-parallel",
                 "--topic", "PARALLEL", "--idle-timeout", "3")
    assert result.returncode == 0, result.stderr
    assert landed(tmp_path / "out") == replay_bodies(feed)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = run("publish", str(tmp_path / "empty.jsonl"), "--namesrv", broker.address, "--topic", "PARALLEL",
                 "--producers", "3", "--data-dir", str(tmp_path / "pub"))
    assert result.returncode == 0, result.stderr
    assert "published 0 messages" in result.stdout


def test_consumer_falls_back_to_the_python_log_without_a_compiler(tmp_path, monkeypatch, capsys):
    import jushita_etl.mq.landing_callback as native
    from jushita_etl.landing.wal import DurableLog
    from jushita_etl.mq.consume import open_log

    monkeypatch.setattr(native, "_library", None)
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "not-built.so")
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, no gcc
    monkeypatch.delenv("CC", raising=False)
    log = open_log(tmp_path / "landing")
    try:
        assert type(log) is DurableLog
    finally:
        log.close()
    assert "no C compiler" in capsys.readouterr().err


def test_the_clients_mktime_import_gets_a_known_dst_flag(tmp_path):
    """The month-end workaround (client_mktime.c): once a producer exists, librocketmq.so's own mktime import goes
    through the wrapper, which answers what mktime answers for tm_isdst = -1 whatever flag it is handed."""
    import ctypes

    from rocketmq.ffi import _DYLIB_PATH

    from jushita_etl import native
    from jushita_etl.mq.source import MKTIME_SOURCE, MQProducer, fix_client_mktime

    with MQProducer("127.0.0.1:1", log_dir=tmp_path / "logs"):  # never connects: no message is sent
        pass
    assert fix_client_mktime()
    lib = ctypes.CDLL(str(native.build(MKTIME_SOURCE)))
    lib.jmk_imported_mktime.restype = lib.jmk_wrapper.restype = ctypes.c_void_p
    lib.jmk_imported_mktime.argtypes = [ctypes.c_char_p]
    assert lib.jmk_imported_mktime(_DYLIB_PATH.encode()) == lib.jmk_wrapper()
    assert lib.jmk_imported_mktime(b"/no/such/library.so") is None

    class Tm(ctypes.Structure):
        _fields_ = [(name, ctypes.c_int) for name in
                    ("sec", "min", "hour", "mday", "mon", "year", "wday", "yday", "isdst")] + [
                   ("gmtoff", ctypes.c_long), ("zone", ctypes.c_char_p)]

    libc = ctypes.CDLL(None)
    libc.mktime.restype = ctypes.c_long
    wrapper = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.POINTER(Tm))(lib.jmk_wrapper())
    for garbage in (-1, 0, 1, 0x7F7F7F7F):
        # the client's month window: day 0 of the month, as it builds it, with an uninitialised DST flag
        given, unknown = Tm(mday=0, mon=10, year=126, isdst=garbage), Tm(mday=0, mon=10, year=126, isdst=-1)
        assert wrapper(ctypes.byref(given)) == libc.mktime(ctypes.byref(unknown)) != -1
