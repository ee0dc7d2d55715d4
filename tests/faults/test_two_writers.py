"""Fault 3: two writers. A build (or a sensor's run) while another writes the warehouse waits for it, saying so, or
gives up with a message naming the holder; two builds at once both finish and the catalog is exact. A second
consumer of the same group on the same data directory refuses to start."""

from __future__ import annotations

import subprocess
import sys
import time

from fault_support import assert_equals_oracle, run_cli
from mq_support import BrokerProcess, consumer

from jushita_etl.landing.replay import land_files
from jushita_etl.settings import paths

HOLD_WRITER = """
import sys, time
from jushita_etl.settings import paths
from jushita_etl.warehouse import db
with db.writer(paths(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_build_waits_for_the_writer_or_gives_up_naming_it_and_two_builds_at_once_are_exact(tmp_path, feed, oracle):
    data, home = tmp_path / "data", tmp_path / "home"
    for chunk in feed.chunks:
        land_files([str(chunk)], paths(data).landing, quiet=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, str(data), "8"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        refused = run_cli("build", "--wait", "1", "--data-dir", str(data), home=home)
        assert refused.returncode == 1
        assert f"another writer holds the warehouse in {data}: pid {holder.pid}" in refused.stderr
        assert "nothing was changed" in refused.stderr and "Traceback" not in refused.stderr

        started = time.monotonic()
        waited = run_cli("build", "--data-dir", str(data), home=home)  # waits for the holder, then builds
        assert waited.returncode == 0, waited.stderr
        assert f"waiting for the warehouse writer: pid {holder.pid}" in waited.stderr
        assert holder.poll() is not None and time.monotonic() - started > 2
    finally:
        holder.kill()
    assert_equals_oracle(data, oracle)

    again = tmp_path / "again"
    for chunk in feed.chunks:
        land_files([str(chunk)], paths(again).landing, quiet=True)
    both = [subprocess.Popen([sys.executable, "-m", "jushita_etl.cli", "build", "--data-dir", str(again)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"}) for _ in range(2)]
    for build in both:
        _, err = build.communicate(timeout=300)
        assert build.returncode == 0, err
    assert_equals_oracle(again, oracle)


def test_a_second_consumer_of_the_group_on_the_same_data_directory_refuses(tmp_path):
    broker = BrokerProcess("--store", str(tmp_path / "broker-store"))
    data = tmp_path / "data"
    first = consumer(data, broker.address, "G-twice", "TWICE", "--duration", "60")
    try:
        deadline = time.monotonic() + 30
        while not list((data / "landing" / "consumers").glob("*.lock")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        second = consumer(data, broker.address, "G-twice", "TWICE", "--duration", "5")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"another consumer of group G-twice already lands into {data}: pid {first.pid}" in err
        other_group = consumer(data, broker.address, "G-vip", "TWICE", "--duration", "2")  # a group of its own
        _, err = other_group.communicate(timeout=60)
        assert other_group.returncode == 0, err
    finally:
        first.terminate()
        first.wait(timeout=30)
        broker.stop()
