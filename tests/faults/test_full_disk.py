"""Fault 2: the disk fills up while landing, building or consuming: one clear line ("no space left on <path>"), a
non-zero exit, nothing half-listed or half-committed, nothing acknowledged that is not durable; once space is
freed the next run completes and the result is exact."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from fault_support import assert_equals_oracle, run_cli, small_filesystem
from mq_support import BrokerProcess, consumer, landed, landed_rows, wait_for

import jushita_etl
from jushita_etl.landing.manifest import read_manifest
from jushita_etl.warehouse import lake


def fill(disk: Path, leave_kb: int) -> Path:
    """Take the free space of ``disk`` but ``leave_kb``."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize - leave_kb * 1024
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * max(free, 0))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def assert_landing_whole(data: Path) -> None:
    """Every manifest line is complete and names a batch file on disk; no partial file is left behind."""
    manifest = (data / "landing" / "manifest.jsonl").read_bytes()
    assert not manifest or manifest.endswith(b"\n")
    for entry in read_manifest(data / "landing")[0]:
        assert (data / "landing" / entry["file"]).exists()
    assert not list((data / "landing" / "batches").glob("*.tmp"))


def test_landing_on_a_full_disk_fails_cleanly_and_lands_once_space_is_freed(tmp_path, feed, oracle):
    home = tmp_path / "home"
    with small_filesystem(tmp_path / "disk", 48) as disk:
        data = disk / "data"
        assert run_cli("land", "--data-dir", str(data), str(feed.chunks[0]), home=home).returncode == 0
        filler = fill(disk, leave_kb=64)
        full = run_cli("land", "--data-dir", str(data), str(feed.chunks[1]), home=home)
        assert full.returncode == 1
        assert full.stderr.startswith(f"jushita-etl: no space left on {data}") and "Traceback" not in full.stderr
        assert len(full.stderr.strip().splitlines()) == 1
        assert_landing_whole(data)

        filler.unlink()
        for chunk in feed.chunks[1:]:
            assert run_cli("land", "--data-dir", str(data), str(chunk), home=home).returncode == 0
        built = run_cli("build", "--data-dir", str(data), home=home)
        assert built.returncode == 0, built.stderr
        assert_equals_oracle(data, oracle)


def test_a_build_on_a_full_disk_commits_nothing_and_the_next_completes_it(tmp_path, feed, oracle):
    home = tmp_path / "home"
    with small_filesystem(tmp_path / "disk", 48) as disk:
        data = disk / "data"
        for chunk in feed.chunks:
            assert run_cli("land", "--data-dir", str(data), str(chunk), home=home).returncode == 0
        filler = fill(disk, leave_kb=256)
        full = run_cli("build", "--data-dir", str(data), home=home)
        assert full.returncode == 1
        assert "no space left on " in full.stderr and "Traceback" not in full.stderr, full.stderr
        assert len(full.stderr.strip().splitlines()) == 1, full.stderr
        try:  # nothing half-committed reaches analysts: there is no published build, or it is whole
            jushita_etl.connect(data).close()
            published = True
        except (lake.NoWarehouseYet, lake.LakeUnavailable):
            published = False
        assert not published

        filler.unlink()
        built = run_cli("build", "--data-dir", str(data), home=home)
        assert built.returncode == 0, built.stderr
        assert_equals_oracle(data, oracle)


def test_a_consumer_on_a_full_disk_stops_acknowledging_and_the_broker_keeps_the_messages(tmp_path):
    """The consumer holds what its log refused instead of answering RECONSUME_LATER (the bundled client drops a
    message whose send-back fails) and ends its process: nothing is sent back, everything comes again."""
    from jushita_etl.mq.source import MQProducer

    broker = BrokerProcess("--store", str(tmp_path / "broker-store"))
    try:
        ids = set()
        with MQProducer(broker.address, log_dir=tmp_path / "logs") as producer:
            for i in range(300):
                producer.send("FULLDISK", b'{"n": %d, "pad": "%s"}' % (i, b"x" * 2000), tags=None, keys=None,
                              msg_id=f"full-{i:04d}")
                ids.add(f"full-{i:04d}")
        with small_filesystem(tmp_path / "disk", 8) as disk:
            data = disk / "data"
            (data / "landing").mkdir(parents=True)
            filler = fill(disk, leave_kb=128)
            first = consumer(data, broker.address, "G-full", "FULLDISK", "--duration", "60")
            _, err = first.communicate(timeout=90)
            assert first.returncode == 1
            assert "no space left on" in err and "Traceback" not in err, err

            filler.unlink()
            # no idle timeout: the group's rebalance takes its own time
            second = consumer(data, broker.address, "G-full", "FULLDISK", "--duration", "150")
            try:
                complete = wait_for(lambda: set(landed(data)) >= ids, 120)
            finally:
                second.terminate()
                second.communicate(timeout=60)
            assert second.returncode == 0
            assert complete, sorted(ids - set(landed(data)))[:10]
            assert {row["reconsume_times"] for row in landed_rows(data)} == {0}  # nothing was sent back
    finally:
        broker.stop()
