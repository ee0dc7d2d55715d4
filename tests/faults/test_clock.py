"""Fault 5: the landing host's clock jumps hours backwards or forwards, or stands still: the facts do not change (the
contract orders by platform time, never by the landing clock), and batch ids and file names never collide."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from fault_support import assert_equals_oracle, run_cli
from mq_support import BrokerProcess, landed

from jushita_etl.landing.manifest import read_manifest

pytestmark = pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime (make test installs it)")


def faked(offset: str) -> list[str]:
    """A command prefix that runs it on a wall clock ``offset`` from the real one ("-6h"), or stopped at an instant.
    The monotonic clock runs on, as it does when a host's clock is stepped (NTP, an operator)."""
    return ["env", "FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f", offset]


def test_a_clock_that_jumps_back_and_forth_changes_no_fact(tmp_path, feed, oracle):
    data, home = tmp_path / "data", tmp_path / "home"
    broker = BrokerProcess("--store", str(tmp_path / "broker-store"))
    try:
        # the middle chunk comes through the real consumer, on a host whose clock runs six hours behind
        published = run_cli("publish", str(feed.chunks[1]), "--namesrv", broker.address, "--topic", "CLOCK",
                            "--data-dir", str(tmp_path / "pub"), home=home)
        assert published.returncode == 0, published.stderr
        for chunk, clock in [(feed.chunks[0], "+0h"), (None, "-6h"), (feed.chunks[2], "+6h")]:
            if chunk is None:
                consumed = subprocess.run([*faked(clock), *consumer_command(data, broker.address)], capture_output=True,
                                          text=True, timeout=180)
                assert consumed.returncode == 0, consumed.stderr
            else:
                landed_ = subprocess.run([*faked(clock), sys.executable, "-m", "jushita_etl.cli", "land", "--data-dir",
                                          str(data), str(chunk)], capture_output=True, text=True, timeout=120)
                assert landed_.returncode == 0, landed_.stderr
            built = run_cli("build", "--data-dir", str(data), home=home)
            assert built.returncode == 0, built.stderr
        assert len(landed(data)) > 0
    finally:
        broker.stop()
    entries = read_manifest(data / "landing")[0]
    assert sorted(e["batch_id"] for e in entries) != [e["batch_id"] for e in entries]  # landing order != id order
    assert_equals_oracle(data, oracle)


def consumer_command(data, namesrv) -> list[str]:
    return [sys.executable, "-m", "jushita_etl.cli", "consume", "--data-dir", str(data), "--namesrv", namesrv,
            "--group", "G-clock", "--topic", "CLOCK", "--idle-timeout", "5", "--duration", "120"]


def test_a_clock_standing_still_never_makes_two_batches_of_one_id(tmp_path, feed):
    """Every process lands at the same instant, several batches each: ids differ by process and sequence."""
    data = tmp_path / "data"
    stopped = faked("2026-12-06 12:00:00")  # an absolute time without "@": the clock does not advance
    landers = [subprocess.Popen([*stopped, sys.executable, "-m", "jushita_etl.cli", "land", "--flush-rows", "500",
                                 "--data-dir", str(data), str(chunk)], stderr=subprocess.PIPE, text=True)
               for chunk in feed.chunks]
    for lander in landers:
        assert lander.wait(timeout=120) == 0, lander.stderr.read()
    entries = read_manifest(data / "landing")[0]
    ids = [e["batch_id"] for e in entries]
    assert len(ids) > len(feed.chunks) and len(set(ids)) == len(ids)
    assert len({e["batch_id"][:20] for e in entries}) == 1  # one instant for all of them
    files = list((data / "landing" / "batches").glob("*.parquet"))
    assert sorted(f.stem for f in files) == sorted(ids)
    assert sum(e["rows"] for e in entries) == sum(len(c.read_bytes().splitlines()) for c in feed.chunks)
