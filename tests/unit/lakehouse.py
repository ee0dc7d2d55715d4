"""The unit tests' harness: hand-written deliveries (replay lines, contract §0.2) landed and taken through every
step of a build without Dagster (``jushita_etl.warehouse.pipeline``) on a real DuckLake under a temporary
directory, and tables read back from the published snapshot as dicts.

A test declares its input next to its assertions with ``@deliveries(...)``; the module's ``built`` fixture (see
conftest.py) lands the deliveries of every test of the module together and builds them once, since a build of even
one message takes a second or two (17 steps, a lake transaction each). Cases of one module share that lake, so each
uses keys (tid, refund_id, message ids ...) of its own and asserts on its own keys; a rule about a whole table
(every quarantine reason, the reconciliation, the watermark) gets a module or a ``lakehouse`` of its own.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest
from support import delivery, envelope, write_replay

from jushita_etl.landing.replay import land_files
from jushita_etl.settings import Paths, paths
from jushita_etl.warehouse import lake, pipeline

MARK = "deliveries"


def deliveries(*records: dict) -> pytest.MarkDecorator:
    """The replay lines a test's case lands: on a test, its own; as a module's ``pytestmark``, every case's."""
    return getattr(pytest.mark, MARK)(*records)


def message(topic: str, content, *, id: int | None = None, pub_time: str = "2026-11-11 10:00:00", **options) -> dict:
    """One delivery of one platform message: ``envelope`` (content, id, pub_time) delivered once (``options``
    go to ``delivery``: msg_id, born, reconsume)."""
    return delivery(envelope(topic, content, id=id, pub_time=pub_time), **options)


def declared(module) -> list[dict]:
    """Every delivery the tests of ``module`` declare (``@deliveries`` on a test, or the module's ``pytestmark``),
    in the order they are written, each once: whichever tests are selected, the module's lake holds them all."""
    module_marks = getattr(module, "pytestmark", [])
    marks = list(module_marks) if isinstance(module_marks, list) else [module_marks]
    for name in vars(module):
        if name.startswith("test"):
            marks += getattr(getattr(module, name), "pytestmark", [])
    records, seen = [], set()
    for mark in (getattr(m, "mark", m) for m in marks):  # a module's MarkDecorator holds its Mark
        for record in mark.args if mark.name == MARK else []:
            if id(record) not in seen:
                seen.add(id(record))
                records.append(record)
    return records


class Lakehouse:
    """A data directory of its own: ``build`` lands deliveries and runs every build step on them; ``rows`` and
    ``row`` read the last published build."""

    def __init__(self, data_dir: Path):
        self.paths: Paths = paths(data_dir)
        self.records: list[dict] = []  # everything landed so far, in arrival order
        self._reader: duckdb.DuckDBPyConnection | None = None
        self._landed = itertools.count()

    def land(self, records: list[dict]) -> None:
        """Land ``records`` as one replay file (one batch), as ``jushita-etl land`` does."""
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)
        feed = write_replay(self.paths.data_dir / f"replay-{next(self._landed)}.jsonl", records)
        land_files([str(feed)], self.paths.landing, quiet=True)
        self.records += records

    def build(self, records: list[dict] = (), *, full: bool = False) -> Lakehouse:
        """Land ``records`` (when given), then ingest, apply, refold, refresh and publish without Dagster."""
        if records:
            self.land(list(records))
        self.close()  # a reader stays on the build it opened: the next read opens the new one
        pipeline.build_without_dagster(self.paths, full=full, timeout=5)
        return self

    def rows(self, query: str, *params) -> list[dict]:
        """The rows of ``query`` on the published build, each a dict by column name."""
        if self._reader is None:
            # internal: the pipeline's own reader (same published snapshot as jushita_etl.connect, without checking
            # the extensions' signatures, 0.3 s per extension and connection)
            self._reader = lake.reader(self.paths, internal=True)
        cursor = self._reader.execute(query, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def row(self, query: str, *params) -> dict:
        """The one row of ``query`` (fails unless there is exactly one)."""
        rows = self.rows(query, *params)
        assert len(rows) == 1, rows
        return rows[0]

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
