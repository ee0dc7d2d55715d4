"""Processes for the RocketMQ tests: the dev broker and CLI consumers, on 127.0.0.1, started by the tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from jushita_etl.landing.batches import read_manifest

CLI = [sys.executable, "-m", "jushita_etl.cli"]


class BrokerProcess:
    def __init__(self, *args: str, port: int = 0):
        self.args, self.port = list(args), port
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([*CLI, "broker", "--port", str(self.port), "--delay-scale", "0.05", *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        assert match, f"broker did not start: {line!r}"
        self.address = match.group(1)
        self.port = int(self.address.rsplit(":", 1)[1])
        # drained all along: a full pipe would stall the broker at its next log line
        self.output: list[str] = []
        threading.Thread(target=self.output.extend, args=(self.proc.stdout,), daemon=True).start()

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, \
            f"the broker ended (exit {self.proc.returncode}): {''.join(self.output)[-3000:]}"

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)


def run(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def consumer(data_dir: Path, namesrv: str, group: str, topic: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "consume", "--data-dir", str(data_dir), "--namesrv", namesrv, "--group", group,
                             "--topic", topic, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def landed(data_dir: Path) -> dict[str, bytes]:
    """mq_msg_id -> body over every committed batch (duplicates collapse)."""
    landing = data_dir / "landing"
    entries, _ = read_manifest(landing)
    out: dict[str, bytes] = {}
    for entry in entries:
        table = pq.read_table(landing / entry["file"], columns=["mq_msg_id", "body"])
        out.update(zip(table.column("mq_msg_id").to_pylist(), table.column("body").to_pylist()))
    return out


def landed_rows(data_dir: Path) -> list[dict]:
    landing = data_dir / "landing"
    rows = []
    for entry in read_manifest(landing)[0]:
        rows += pq.read_table(landing / entry["file"]).to_pylist()
    return rows


def replay_bodies(path: Path) -> dict[str, bytes]:
    import base64

    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        out[r["msg_id"]] = r["body"].encode() if "body" in r else base64.b64decode(r["body_base64"])
    return out


def wait_for(predicate, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def durable_count(data_dir: Path) -> int:
    """Deliveries durable so far: committed batches plus records in live log segments."""
    from jushita_etl.landing.segment import read_segment

    count = sum(e["rows"] for e in read_manifest(data_dir / "landing")[0])
    for segment in (data_dir / "landing" / "wal").glob("*/*.wal"):
        try:
            count += read_segment(segment).num_rows
        except FileNotFoundError:
            pass
    return count
