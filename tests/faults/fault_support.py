"""What the fault tests share (their fixtures are in conftest.py): the CLI as an operator runs it, one simulated feed landed in chunks, the oracle (the
contract tables of a clean build of that feed) and small file systems made to fail (tmpfs, read-only mounts)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import jushita_etl
from jushita_etl.build import SUMMARY_TABLES
from jushita_etl.simulate.feed import FeedConfig, write_feed

CLI = [sys.executable, "-m", "jushita_etl.cli"]
CHUNKS = 3
# Columns that record when a delivery was landed (the landing host's clock), not what it said: they differ between
# any two landings of the same feed, so the oracle leaves them out.
LANDING_TIME_COLUMNS = {"quarantine": ["received_at"]}


@dataclass(frozen=True)
class Feed:
    chunks: list[Path]  # arrival-ordered parts of one simulated feed, each landed as its own batch
    whole: Path


# The tests run as root, whom no file permission stops: without these two capabilities root's own permission bits
# apply to it (the interpreter under /root stays reachable, as it would not be for another user).
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                    "--inh-caps=-dac_override,-dac_read_search", "--"]


def run_cli(*args: str, home: Path, env: dict | None = None, timeout: float = 300, unprivileged: bool = False,
            **kw) -> subprocess.CompletedProcess:
    """``jushita-etl ARGS`` in a process of its own, on the test's own Dagster instance; ``unprivileged``: bound by
    file permissions."""
    command = [*CLI, *args]
    if unprivileged:
        command = [*WITHOUT_OVERRIDE, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DAGSTER_HOME": str(home), **(env or {})}, **kw)


def make_feed(root: Path) -> Feed:
    whole = root / "feed.jsonl"
    with open(whole, "wb") as fh:
        write_feed(fh, FeedConfig(sellers=2, orders=150, days=2, seed=23, malformed_rate=0.01))
    lines = whole.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // CHUNKS)
    chunks = []
    for i in range(CHUNKS):
        chunk = root / f"chunk-{i}.jsonl"
        chunk.write_bytes(b"".join(lines[i * size:(i + 1) * size]))
        chunks.append(chunk)
    return Feed(chunks, whole)


def contract_rows(data_dir: Path) -> dict[str, list[tuple]]:
    """Every contract table of the last published build, rows sorted, landing-time columns left out; for
    raw_messages the distinct msg ids (a source landed twice doubles its raw rows, by design)."""
    conn = jushita_etl.connect(data_dir)
    try:
        rows = {}
        for table in SUMMARY_TABLES:
            if table == "raw_messages":
                query = "SELECT DISTINCT mq_msg_id FROM raw_messages ORDER BY 1"
            else:
                skip = LANDING_TIME_COLUMNS.get(table)
                columns = f"* EXCLUDE ({', '.join(skip)})" if skip else "*"
                query = f"SELECT {columns} FROM {table} ORDER BY ALL"
            rows[table] = conn.execute(query).fetchall()
        return rows
    finally:
        conn.close()


def clean_build(feed: Feed, root: Path) -> dict[str, list[tuple]]:
    """The contract tables of a clean build: every chunk landed, one build, no fault."""
    data = root / "data"
    for chunk in feed.chunks:
        assert run_cli("land", "--data-dir", str(data), str(chunk), home=root / "home").returncode == 0
    built = run_cli("build", "--data-dir", str(data), home=root / "home")
    assert built.returncode == 0, built.stderr
    return contract_rows(data)


def assert_equals_oracle(data_dir: Path, oracle: dict[str, list[tuple]]) -> None:
    got = contract_rows(data_dir)
    for table, expected in oracle.items():
        assert got[table] == expected, f"{table} differs from a clean build"


@contextlib.contextmanager
def small_filesystem(path: Path, megabytes: int):
    """A tmpfs of ``megabytes`` mounted at ``path`` (needs root; the test is skipped where mounting is refused)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` remounted read-only in place (a bind mount), as a full or failing disk remounted by the kernel."""
    bound = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.strip()}")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True, text=True)
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remounted.stderr.strip()}")
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
