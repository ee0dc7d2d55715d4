"""Past one machine, shown on this one: a PostgreSQL catalog and an S3-compatible store (moto_server stands in for
Aliyun OSS, as the development broker stands in for ONS). Two consumers with separate data directories in one
clustering group land into the lake, a third process builds with nothing but the catalog and the data path, a fourth
reads; the tables equal a single-machine build of the same feed. Needs Debian's postgresql (`make test` installs
it) and moto[server] (a dev dependency); every server listens on 127.0.0.1 only."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mq_support import CLI, BrokerProcess, consumer, run

from jushita_etl.simulate.feed import FeedConfig, write_feed
from jushita_etl.warehouse.scenarios import SCENARIO_TABLES
from jushita_etl.warehouse.steps import EVENT_TABLES, FACT_TABLES

INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
pytestmark = pytest.mark.skipif(not INITDB or not shutil.which("moto_server", path=str(Path(sys.executable).parent)),
                                reason="needs Debian's postgresql and moto[server]")
TABLES = ["quarantine", *[t.name for t in EVENT_TABLES], *[f.name for f in FACT_TABLES],
          *[s.name for s in SCENARIO_TABLES]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*cmd: str) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="module")
def catalog():
    """A throwaway PostgreSQL on 127.0.0.1 with an empty database `jushita`: the DuckLake metadata string. In a
    directory of its own under the system temp directory (pytest's is private to root, which postgres may not be)."""
    bin_dir = Path(INITDB[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="jushita-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    subprocess.run(as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                               "--no-locale", "-E", "UTF8"), check=True, capture_output=True)
    subprocess.run(as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                               f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"),
                   check=True, capture_output=True)
    try:
        subprocess.run(as_postgres(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                   "jushita"), check=True, capture_output=True)
        yield f"postgres:dbname=jushita host=127.0.0.1 port={port} user=postgres"
    finally:
        subprocess.run(as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def object_store():
    """moto_server on 127.0.0.1 with a bucket: the JUSHITA_S3_* and AWS_* settings that point at it."""
    import boto3

    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        env = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"}
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1"
                     ).create_bucket(Bucket="jushita")
        yield {**env, "JUSHITA_S3_ENDPOINT": f"127.0.0.1:{port}", "JUSHITA_S3_URL_STYLE": "path",
               "JUSHITA_S3_USE_SSL": "false", "JUSHITA_LAKE_PATH": "s3://jushita/lake/"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# received_at is when a delivery landed on its machine, the one column that depends on who landed it
DIGEST = """
import json, sys, jushita_etl
conn = jushita_etl.connect(sys.argv[1])
def rows(t):
    return f"(SELECT * EXCLUDE (received_at) FROM {t})" if t == "quarantine" else t
print(json.dumps({t: conn.execute(f"SELECT count(*), sum(hash(t)::HUGEINT)::VARCHAR FROM {rows(t)} AS t").fetchone()
                  for t in sys.argv[2:]}))
"""


def digest(data_dir: Path, env: dict) -> dict:
    """Row count and an order-independent hash of every row, per table, read by a separate reader process."""
    out = subprocess.run([sys.executable, "-c", DIGEST, str(data_dir), *TABLES], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_consumers_one_builder_one_reader_on_postgres_and_s3(tmp_path, catalog, object_store):
    feed = tmp_path / "feed.jsonl"
    with open(feed, "wb") as fh:
        write_feed(fh, FeedConfig(orders=250, seed=11))
    shared = {**object_store, "JUSHITA_CATALOG": catalog, "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()

    broker = BrokerProcess()
    try:
        # the topic exists before the consumers subscribe; both join the group before the feed is published, so the
        # broker shares the queues between them
        lines = feed.read_bytes().splitlines(keepends=True)
        (tmp_path / "first.jsonl").write_bytes(lines[0])
        (tmp_path / "rest.jsonl").write_bytes(b"".join(lines[1:]))
        for part, started in (("first", False), ("rest", True)):
            if started:
                consumers = [consumer(tmp_path / f"consumer{i}", broker.address, "jushita-group", "JMS",
                                      "--idle-timeout", "12", env=shared) for i in (1, 2)]
                time.sleep(6)
            published = run("publish", str(tmp_path / f"{part}.jsonl"), "--namesrv", broker.address, "--topic", "JMS",
                            "--data-dir", str(tmp_path / "publisher"))
            assert published.returncode == 0, published.stderr
        for proc in consumers:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err[-2000:]
    finally:
        broker.stop()
    landed_by = [sum(1 for _ in (tmp_path / f"consumer{i}" / "landing" / "batches").glob("*.parquet")) for i in (1, 2)]
    assert all(landed_by), f"both consumers of the group landed batches: {landed_by}"

    builder = tmp_path / "builder"  # no landing zone of its own: the catalog lists what to build
    built = subprocess.run([*CLI, "build", "--data-dir", str(builder)], capture_output=True, text=True, timeout=600,
                           env={**os.environ, **shared})
    assert built.returncode == 0, built.stderr[-3000:]
    assert "reconciliation holds" in built.stdout

    single = tmp_path / "single"
    env_single = {"DAGSTER_HOME": str(tmp_path / "home-single")}
    (tmp_path / "home-single").mkdir()
    assert run("land", "--data-dir", str(single), str(feed), env=env_single).returncode == 0
    assert run("build", "--data-dir", str(single), env=env_single, timeout=600).returncode == 0

    distributed = digest(tmp_path / "reader", shared)
    assert distributed == digest(single, env_single)
    assert distributed["trade_events"][0] > 0
