"""``jushita-etl build``: materialize, in-process, everything pending, with the same Dagster definitions the UI
runs. The flow: plan (is anything new?), ingest, one Dagster run, report.

* **Plan** without starting Dagster (``warehouse/plan.py``, shared with the landing sensor). Nothing to do: no
  Dagster import at all.
* **Ingest** the new batches on the writer connection (``steps.ingest``), which is handed over to the run's first
  step instead of being closed and reopened. The writer's preparation and the ingest run on a thread while
  pandas and Dagster are imported and the definitions loaded.
* **One run**: ``warehouse_job`` over the partitions from the first to the last event date the ingest changed
  (it reports the ingest, without asking for new batches again, and the event tables, refolds the facts and
  publishes), or ``facts_job`` when no event table changes (redeliveries only). Batches landed while it ran are
  built by another run, up to three in all.
* **Report** the published tables and the reconciliation; when the last run's final check found nothing left,
  remember that (``plan.remember``), so that a next build with nothing to do reads one memo instead of the tables.

Imported on use: Dagster and the definitions (a build with nothing to do never loads them), the landing store
(pyarrow, only when a crashed consumer left a log to recover), and pandas, while the writer is prepared (``_import_pandas``).

Long because: it is one command's whole flow, each part a few lines around the one writer connection that is
handed from the ingest to the run and from the run to the summary; split, that hand-over would be read across
modules.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field, fields
from datetime import date
from pathlib import Path

import duckdb

from jushita_etl.diagnosis import explain
from jushita_etl.holder import holder, try_hold
from jushita_etl.settings import Paths, lake as lake_settings
from jushita_etl.warehouse import db, lake, scenarios, steps, unreadable
from jushita_etl.warehouse.plan import Settled, plan, remember, settled, settled_state

PROJECT_DAGSTER_HOME = Path(__file__).resolve().parents[1] / "dagster_home"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
MAX_RUNS = 3
SETTLED_MEMO = "settled.json"  # plan.settled's answer, remembered for the next build


class BuildFailed(RuntimeError):
    pass


@dataclass
class BuildReport:
    runs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    nothing_new: bool = False
    tables: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    reconciliation: steps.Reconciliation | None = None
    unreadable: list[unreadable.UnreadableBatch] = field(default_factory=list)  # set aside, not yet repaired


def ensure_dagster_home() -> Path:
    """$DAGSTER_HOME, or the project's dagster_home/ (absolute), so CLI builds land in the same instance as the UI."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(PROJECT_DAGSTER_HOME if PROJECT_DAGSTER_HOME.is_dir() else Path("dagster_home").absolute())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


def run_build(paths: Paths, *, full: bool = False, instance=None, verbose: bool = False, wait: float = 600.0
              ) -> BuildReport:
    """Build everything pending (see the module docstring) and return what was built. ``wait``: how long to wait
    for another writer (a build, a sensor's run) to finish before giving up (``db.WarehouseBusy``)."""
    started = time.perf_counter()
    report = BuildReport()
    _recover_consumer_log(paths)
    try:
        with db.writer(paths, hand_over=True, prepared=False, timeout=wait) as conn:
            # nothing to do and nothing unpublished: the writer's state is the published one, so its
            # reconciliation is the published build's, and no reader is opened for it
            nothing = None if full else _nothing_to_do(conn, paths)
            report.nothing_new = nothing is not None
            if nothing:
                report.reconciliation, waiting = nothing
                if waiting:  # unreadable batches: still said on every build until repaired
                    report.unreadable = unreadable.unresolved(conn)
            if not report.nothing_new:
                # The writer's preparation and the ingest (DuckDB, which releases the GIL) run on a thread while this
                # one imports pandas, then Dagster, loads the definitions and opens the instance: 2-3 s of Python that
                # otherwise waited for the parse.
                ingested: dict = {"prepared": threading.Event()}
                thread = threading.Thread(target=_ingest, args=(conn, paths, ingested), name="ingest")
                thread.start()
                try:
                    _import_pandas()
                    session = _DagsterSession(paths, full=full, instance=instance, verbose=verbose, report=report,
                                              prepared=lambda: _prepared(ingested))
                finally:
                    thread.join()
                if "error" in ingested:
                    raise ingested["error"]
                dates = ingested["dates"]
        if not report.nothing_new:
            session.run(dates)
            with db.handed_over(paths) as conn:  # the run's writer: no connection to open for the summary
                if conn is not None and not lake.unpublished(conn):  # its state is the build just published
                    _summarize(paths, report, conn)
                    if session.settled_at is not None:  # the next build with nothing to do asks the memo alone
                        remember(paths.build_dir / SETTLED_MEMO, session.settled_at,
                                 Settled(astuple(report.reconciliation), len(report.unreadable)))
    finally:  # the writer, when no run took it over (nothing to do, or a failure before the first step)
        db.release_handed_over(paths)
    if not report.tables:
        _summarize(paths, report)
    report.seconds = time.perf_counter() - started
    return report


def rebuild(paths: Paths, *, instance=None, verbose: bool = False) -> tuple[Path, BuildReport]:
    """Set the embedded lakehouse aside (``<data>/lake.damaged-<time>``: moved, never deleted) and build a new one
    from the landing zone, the source of truth: the repair for a lake data file or a catalog that is lost or
    damaged. Returns where the old lake went and the new build's report."""
    if lake_settings(paths).shared:
        raise BuildFailed("rebuild sets aside the embedded lake only; for a shared catalog see docs/runbook.md")
    lock_path = paths.build_dir / "writer.lock"
    lock = try_hold(lock_path, "jushita-etl rebuild")
    if lock is None:
        raise BuildFailed(f"another writer holds the warehouse: {holder(lock_path)}; try again when it is done")
    try:
        aside = paths.data_dir / f"lake.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        if paths.lake_dir.exists():
            os.replace(paths.lake_dir, aside)
    finally:
        lock.close()
    return aside, run_build(paths, full=True, instance=instance, verbose=verbose)


def _nothing_to_do(conn: duckdb.DuckDBPyConnection, paths: Paths) -> tuple[steps.Reconciliation, int] | None:
    """When there is nothing to do (``plan.settled``, on the writer before it is prepared, remembered in the build
    directory), the reconciliation of the warehouse as it is (as recorded when it was published, or counted) and
    how many unreadable batches wait; else None. A catalog no build has prepared (or one missing a newer table) has
    work."""
    try:
        found = settled(conn, paths.landing, memo=paths.build_dir / SETTLED_MEMO)
        if found is None:
            return None
        counted = steps.Reconciliation(*found.reconciliation) if found.reconciliation else steps.reconcile(conn)
        return counted, found.unresolved
    except duckdb.CatalogException:
        return None


def _import_pandas() -> None:
    """DuckDB imports pandas (0.35 s of Python) the first time a process binds a parameter, which a build with work
    first does in ``db.prepare``'s last statement: imported here meanwhile, while its DDL runs (DuckDB's own code,
    which does not hold the GIL), and before Dagster's import, which would share the GIL with it and hold the
    ingest's thread back for twice as long."""
    import pandas  # noqa: F401


def _prepared(ingested: dict) -> None:
    """Wait until the ingest's thread has prepared the writer; raise what stopped it (a catalog an older version
    left with queued messages, say) before Dagster opens its instance for a build that will not run."""
    ingested["prepared"].wait()
    if "error" in ingested:
        raise ingested["error"]


def _recover_consumer_log(paths: Paths) -> None:
    """What a crashed consumer acknowledged is landed before anything is built."""
    wal = paths.landing / "wal"
    if wal.is_dir() and any(wal.iterdir()):
        from jushita_etl.landing.batches import BatchStore  # pyarrow: only when there is a log to recover
        from jushita_etl.landing.wal import recover_orphans

        recover_orphans(BatchStore(paths.landing))


def _ingest(conn: duckdb.DuckDBPyConnection, paths: Paths, out: dict) -> None:
    """The build's ingest (on its own thread), after preparing the writer (``out["prepared"]`` is set once that is
    done or has failed): ``out`` gets the changed event dates, or the error to raise."""
    try:
        db.prepare(conn)
        out["prepared"].set()
        steps.ingest(conn, paths)
        out["dates"] = steps.changed_dates(conn)
    except duckdb.Error as exc:  # a full disk, say: one clear line
        out["error"] = BuildFailed(explain(exc, paths.data_dir) or f"ingest failed: {str(exc).strip().splitlines()[0]}")
    except BaseException as exc:  # noqa: BLE001 - raised by the build's thread
        out["error"] = exc
    finally:
        out["prepared"].set()  # after the error is in ``out``: a failed preparation is seen as one


class _DagsterSession:
    """Dagster imported, the definitions loaded and the instance open, ready to run (``run``)."""

    def __init__(self, paths: Paths, *, full: bool, instance, verbose: bool, report: BuildReport,
                 prepared: Callable[[], None]):
        """``prepared``: returns once the writer is prepared (raising what failed), before the instance is opened."""
        import dagster as dg

        from jushita_etl.defs.resources import WarehouseResource
        from jushita_etl.definitions import defs as load_defs

        # One planned-materialization event per asset and run instead of one per (asset, partition): a run can
        # span many daily partitions, and each event is a SQLite commit in the instance.
        os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
        self.definitions = load_defs()
        prepared()
        if instance is None:
            ensure_dagster_home()
            instance = dg.DagsterInstance.get()
        self.paths, self.instance, self.verbose, self.report = paths, instance, verbose, report
        self.resources = {"warehouse": WarehouseResource(data_dir=str(paths.data_dir), hand_over=True,
                                                        ingested_before=True)}
        self.fold = {"ops": {step: {"config": {"full": full}} for step in ("fact_tables", "scenario_tables")}}
        # the catalog and landing state (plan.settled_state) at which the last run's final check found nothing left
        self.settled_at: list | None = None

    def execute(self, job_name: str, **kwargs) -> None:
        config = {**self.fold, **({} if self.verbose else QUIET)}
        result = self.definitions.resolve_job_def(job_name).execute_in_process(
            instance=self.instance, resources=self.resources, raise_on_error=False, run_config=config, **kwargs)
        self.report.runs.append(job_name)
        for evaluation in result.get_asset_check_evaluations():
            if evaluation.check_name == "reconciliation":
                self.report.reconciliation = steps.Reconciliation(
                    **{f.name: evaluation.metadata[f.name].value for f in fields(steps.Reconciliation)})
        if not result.success:
            raise BuildFailed(f"{job_name} failed: {_failure_message(result)}")

    def run(self, dates: list[date]) -> None:
        """``warehouse_job`` over the changed event dates (``facts_job`` without any), then again for batches landed
        meanwhile, up to MAX_RUNS runs."""
        _run_dagster(self, self.paths, dates)


def _run_dagster(session: _DagsterSession, paths: Paths, dates: list[date]) -> None:
    from jushita_etl.defs.landing.sensors import RANGE_END_TAG, RANGE_START_TAG
    from jushita_etl.defs.partitions import partition_key_for

    execute = session.execute
    for _ in range(MAX_RUNS):
        if dates:
            first, last = partition_key_for(dates[0]), partition_key_for(dates[-1])
            execute("warehouse_job", tags={RANGE_START_TAG: first, RANGE_END_TAG: last})
        else:
            execute("facts_job")
        with db.writer(paths, hand_over=True) as conn:  # batches landed while the run ran
            state = settled_state(conn, paths.landing)  # before the check: what lands after it is work again
            if not plan(conn, paths.landing).anything:
                session.settled_at = state
                return
            steps.ingest(conn, paths)
            dates = steps.changed_dates(conn)


def _failure_message(result) -> str:
    """The innermost error of a failed run's first failed step: Dagster's step error wraps what failed."""
    failure = next((e for e in result.all_events if e.is_failure and e.event_specific_data), None)
    error = getattr(getattr(failure, "event_specific_data", None), "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "see the run in the Dagster UI"
    return explain(error.message) or error.message.strip().splitlines()[-1]


# raw_messages, a view over the ingested batches' files, is counted by the rows recorded for them (a count of the
# view opens every landed file: 0.2-0.3 s on 5M deliveries); the tables by their own counts
_COUNTED_TABLES = ["quarantine", *[t.name for t in steps.EVENT_TABLES], *[f.name for f in steps.FACT_TABLES],
                   *[s.name for s in scenarios.SCENARIO_TABLES]]
SUMMARY_TABLES = ["raw_messages", *_COUNTED_TABLES]


def _summarize(paths: Paths, report: BuildReport, conn: duckdb.DuckDBPyConnection | None = None) -> None:
    """Row counts of the published build (not after a build with nothing new: the same as before), and its
    reconciliation when no run counted it: on ``conn`` (the run's writer, at the build it just published) or on a
    reader of the last published snapshot."""
    if report.nothing_new and report.reconciliation is not None:
        return
    reader = None
    if conn is None:
        try:
            conn = reader = lake.reader(paths, internal=True)
        except lake.NoWarehouseYet:
            return
    try:
        if not report.nothing_new:
            raw = conn.execute("SELECT coalesce(sum(rows), 0) FROM etl.ingested_batches").fetchone()[0]
            # the tables' counts in one statement: each on the lake costs catalog work of its own
            report.tables = {"raw_messages": raw, **steps.row_counts(conn, _COUNTED_TABLES)}
            report.quarantined = dict(conn.execute(
                "SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 1").fetchall())
        if report.reconciliation is None:
            report.reconciliation = steps.reconcile(conn)
        report.unreadable = unreadable.unresolved(conn)
    finally:
        if reader is not None:
            reader.close()
