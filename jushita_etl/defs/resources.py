"""The resources, in one place: the warehouse (landing zone in, lakehouse out), the TOP gateway (sync users) and
the RocketMQ consumer (defs/mq). A leaf of ``defs/``: it imports no other ``defs`` module, they import it."""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from jushita_etl import settings
from jushita_etl.warehouse import db, lake, steps
from jushita_etl.warehouse.plan import Plan, plan, plan_from_manifest
from jushita_etl.mq import DEFAULT_THREADS
from jushita_etl.mq.settings import MQSettings
from jushita_etl.top.client import DEFAULT_URL, TopClient

WAREHOUSE_POOL = "warehouse_writer"
"""Concurrency pool of every asset that writes the lakehouse: one writer at a time (dagster.yaml)."""


class WarehouseResource(dg.ConfigurableResource):
    """The data directory (``landing/`` in) and the lakehouse its settings point at (``lake/`` by default).

    Within a run, the writer connection (and its file lock) is opened on first use and kept until the run's
    resources are torn down, so the steps of one run share it instead of reopening the database each time.
    """

    data_dir: str
    hand_over: bool = False
    """At teardown, hand the writer over to the next writer block of this process instead of closing it: a CLI
    build's own checks after its run (``db.writer``'s hand_over; the build closes it at its end)."""
    ingested_before: bool = False
    """The caller ingested what was landed just before starting the run (``jushita-etl build``): the run's steps
    report that ingest without asking the catalog again, and the caller ingests what landed meanwhile for its next
    run."""
    _session: ExitStack | None = PrivateAttr(default=None)
    _conn: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _ingested: bool = PrivateAttr(default=False)

    @property
    def paths(self) -> settings.Paths:
        return settings.paths(self.data_dir)

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._conn is None:
            self._session = ExitStack()
            self._conn = self._session.enter_context(db.writer(self.paths, hand_over=self.hand_over))
        yield self._conn

    def ingest(self) -> None:
        """``steps.ingest`` on the run's writer, once per run: the run's later steps find nothing its first step
        left (batches landed meanwhile are the next run's, as the landing sensor plans)."""
        if not self._ingested and not self.ingested_before:
            with self.writer() as conn:
                steps.ingest(conn, self.paths)
            self._ingested = True

    def plan(self) -> Plan:
        """What a build has to do (warehouse/plan.py), read without taking the writer's lock."""
        try:
            conn = lake.latest_reader(self.paths)
        except lake.NoWarehouseYet:
            return plan_from_manifest(self.paths.landing)
        try:
            return plan(conn, self.paths.landing)
        except duckdb.CatalogException:  # a first build is creating the tables right now
            return plan_from_manifest(self.paths.landing)
        finally:
            conn.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.close()
            self._session, self._conn, self._ingested = None, None, False


class TopResource(dg.ConfigurableResource):
    """The TOP gateway and app key. The app secret is read from $JUSHITA_APP_SECRET where it is used, never
    kept in resource config (which the UI and run config show)."""

    url: str = DEFAULT_URL
    app_key: str = ""
    sign_method: str = "md5"

    def client(self) -> TopClient:
        return TopClient(app_key=self.app_key, app_secret=os.environ.get("JUSHITA_APP_SECRET", ""), url=self.url,
                         sign_method=self.sign_method, retries=2, timeout=5)


class MQResource(dg.ConfigurableResource):
    """Where to consume from. The SecretKey is never part of this (it would show in the UI and run config): it is
    read from $JUSHITA_MQ_SECRET_KEY by the process that consumes."""

    namesrv: str = ""
    group: str = ""
    topic: str = ""
    tags: str = "*"
    model: str = "clustering"
    access_key: str = ""
    channel: str = "CLOUD"
    threads: int = DEFAULT_THREADS

    @property
    def configured(self) -> bool:
        return bool(self.namesrv and self.group and self.topic)

    def settings(self) -> MQSettings:
        return MQSettings(namesrv=self.namesrv, group=self.group, topic=self.topic, tags=self.tags, model=self.model,
                          access_key=self.access_key or None, secret_key=os.environ.get("JUSHITA_MQ_SECRET_KEY"),
                          channel=self.channel, threads=self.threads)


@dg.definitions
def resources() -> dg.Definitions:
    # Read when the code location loads, so $JUSHITA_DATA_DIR and $JUSHITA_MQ_* reach Dagster without putting
    # paths or credentials into run config. Secrets are read only where they are used, never here.
    env = os.environ.get
    # Runs execute in one process: a warehouse run's steps are sequential anyway (one writer) and share the writer
    # connection; a subprocess per step cost seconds of Python start-up each.
    return dg.Definitions(executor=dg.in_process_executor, resources={
        "warehouse": WarehouseResource(data_dir=str(settings.data_dir())),
        "mq": MQResource(namesrv=env("JUSHITA_MQ_NAMESRV", ""), group=env("JUSHITA_MQ_GROUP", ""),
                         topic=env("JUSHITA_MQ_TOPIC", ""), tags=env("JUSHITA_MQ_TAGS", "*"),
                         model=env("JUSHITA_MQ_MODEL", "clustering"), access_key=env("JUSHITA_MQ_ACCESS_KEY", ""),
                         channel=env("JUSHITA_MQ_CHANNEL", "CLOUD"), threads=int(env("JUSHITA_MQ_THREADS", str(DEFAULT_THREADS)))),
        "top": TopResource(url=env("JUSHITA_TOP_URL", DEFAULT_URL), app_key=env("JUSHITA_APP_KEY", ""),
                           sign_method=env("JUSHITA_TOP_SIGN_METHOD", "md5")),
    })
