"""``jushita-etl build``: materialize, in-process, everything pending, with the same Dagster definitions the UI
runs. Normally one run: warehouse_job (ingest, events, facts, checks, publish) over the span of event dates the
new deliveries touch plus dates still pending from an earlier build; facts_job alone when no event date changed.

The new batches are ingested (parsed into the build database, the DuckDB step that needs no Dagster) on a worker
thread while this one imports Dagster, loads its instance and definitions and creates the run from the manifest's
date hints: that is about 3 s of single-threaded Python, and the run's own ingest step then waits for the parse,
takes over its writer connection (handed over, not reopened) and finds nothing left. Each Dagster run, step and
(asset, partition) event costs real time in the instance's SQLite, so fewer runs, steps and events are most of
what makes a build fast on top of DuckDB."""

from __future__ import annotations

import gc
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

import duckdb

from jushita_etl.settings import Paths
from jushita_etl.warehouse import db, steps

PROJECT_DAGSTER_HOME = Path(__file__).resolve().parents[1] / "dagster_home"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


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


def ensure_dagster_home() -> Path:
    """$DAGSTER_HOME, or the project's dagster_home/ (absolute), so CLI builds land in the same instance as the UI."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(PROJECT_DAGSTER_HOME if PROJECT_DAGSTER_HOME.is_dir() else Path("dagster_home").absolute())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


@dataclass
class _Pending:
    """Whether a build has anything to do, found without starting Dagster: a manifest diff and two small queries."""

    new_batches: int
    pending_dates: list[date]  # left pending by an earlier build
    dirty_keys: int
    hinted_dates: list[date]  # the new batches' manifest date hints (a superset of their pub_time dates)
    unpublished: bool  # batches ingested and folded that the published file lacks (see _unpublished)

    @property
    def anything(self) -> bool:
        return bool(self.new_batches or self.pending_dates or self.dirty_keys or self.unpublished)

    @property
    def expected_dates(self) -> list[date]:
        """The event dates the ingest will most likely leave pending, known before it runs."""
        return sorted(set(self.pending_dates) | set(self.hinted_dates))


def _pending(conn: duckdb.DuckDBPyConnection, paths: Paths, new: dict[str, dict]) -> _Pending:
    """What there is to do, given the writer connection and the batches not ingested yet (steps.new_batches)."""
    dirty = conn.execute("SELECT count(*) FROM etl.dirty_keys").fetchone()[0]
    hinted = {day for entry in new.values() for day in map(_hinted_date, entry.get("event_dates", [])) if day}
    return _Pending(len(new), steps.pending_dates(conn), dirty, sorted(hinted), _unpublished(conn, paths))


def _unpublished(conn: duckdb.DuckDBPyConnection, paths: Paths) -> bool:
    """Whether the build database has ingested batches that the published file has not: a run that folded them but
    failed to publish (a full disk, say) leaves nothing pending that would publish them otherwise."""
    if not paths.warehouse.exists():
        return False  # a first build, which publishes anyway
    published = db.reader(paths)
    try:
        count = "SELECT count(*) FROM etl.ingested_batches"
        return published.execute(count).fetchone()[0] != conn.execute(count).fetchone()[0]
    finally:
        published.close()


def _hinted_date(text: str) -> date | None:
    """A manifest hint as a date; None for text shaped like a date that is none (2026-02-30 in a bad pub_time)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _ingest(paths: Paths, full: bool, first_build: bool, planned: Future, news: Future) -> list[date]:
    """On one writer connection: resolve ``planned`` with what there is to do (_pending), or None when that is
    nothing; otherwise then ``news`` with whether any new delivery is there to parse, ingest the new batches, and
    return the event dates to rebuild (with ``full``, the first and last date of all)."""
    try:
        # handed over when done: the run's first step takes this connection instead of reopening the database
        with db.writer(paths, hand_over=True) as conn:
            new = steps.new_batches(conn, paths.landing)
            plan = _pending(conn, paths, new)
            if not (full or first_build or plan.anything):
                planned.set_result(None)
                return []
            planned.set_result(plan)
            news.set_result(steps.any_new_deliveries(conn, paths.landing, new))
            steps.ingest(conn, paths.landing, new)
            if full:
                return [d for d in conn.execute(
                    "SELECT min(event_date), max(event_date) FROM parsed.deliveries WHERE reason IS NULL").fetchone() if d]
            return steps.pending_dates(conn)
    except BaseException as exc:
        if not planned.done():  # e.g. the writer lock timed out: the caller waiting for the plan gets the error
            planned.set_exception(exc)
        raise
    finally:
        if not news.done():  # failed before it knew: the caller then waits for the ingest and reports its error
            news.set_result(False)


MAX_GAP_DAYS = 7  # partitions farther apart than this are built in separate runs


def _stretches(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) stretches whose consecutive days are at most MAX_GAP_DAYS apart."""
    stretches: list[tuple[date, date]] = []
    for day in days:
        if stretches and (day - stretches[-1][1]).days <= MAX_GAP_DAYS:
            stretches[-1] = (stretches[-1][0], day)
        else:
            stretches.append((day, day))
    return stretches


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

# The instance's SQLite files that Dagster opens and closes for every use: the default run storage. (The event log,
# which records most of a run's events, keeps its connections open itself: jushita_etl/instance_storage.py.)
_INSTANCE_DATABASES = ["history/runs.db"]


@contextmanager
def _instance_databases_kept_open(root: Path) -> Iterator[None]:
    """Hold an idle read-only connection to each SQLite file of the Dagster instance while the build's runs record
    their events.

    Dagster's SQLite run storage opens and closes a connection for every use, and SQLite checkpoints a WAL database
    (copies the log into the file and syncs it) whenever its last connection closes. With one more connection open,
    closing theirs is no longer the last close, and SQLite's own auto-checkpoint runs instead (every 1000 pages).
    Measured when the event log still worked the same way: 8.5-9.5 -> 5.9-6.4 ms per asset event. The connection
    holds no transaction, so it never blocks a writer, and the UI's daemon or webserver sharing the files sees no
    difference."""
    with ExitStack() as stack:
        for name in _INSTANCE_DATABASES:
            path = root / name
            if path.exists():
                conn = stack.enter_context(closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)))
                conn.execute("PRAGMA schema_version").fetchone()  # opens the file now (SQLite opens lazily)
        yield


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic collector, less often while a build runs. Importing Dagster and recording a run's events
    allocate millions of objects, and the default thresholds (700, 10, 10) collected about 590 times per 1M
    build, 0.52-0.55 s of the main thread's CPU, which competes with DuckDB's two threads for the two cores; with
    these, 38 times and 0.32 s (peak RSS +50-100 MB). Young cycles are still collected every 50,000 allocations;
    the thresholds are restored.

    Before they are, whatever the build left in the young generations (up to a million objects, with these
    thresholds) is moved to the oldest one without being examined: ``freeze`` moves every object to the permanent
    generation and ``unfreeze`` puts them all in the oldest. Otherwise the restored thresholds would start with a
    collection of them all (0.10-0.17 s, measured after a 1M build)."""
    previous = gc.get_threshold()
    gc.set_threshold(50_000, 50, 1000)
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:  # (unfreezing would also release what a caller froze)
            gc.freeze()
            gc.unfreeze()
        gc.set_threshold(*previous)


def run_build(paths: Paths, *, full: bool = False, instance=None, verbose: bool = False) -> BuildReport:
    """Build everything pending (see the module docstring) and return what was built."""
    with _fewer_collections():
        try:
            return _run_build(paths, full=full, instance=instance, verbose=verbose)
        finally:  # the parse's writer, when no run took it over (nothing to do, or a failure before the first step)
            db.release_handed_over(paths)


def _run_build(paths: Paths, *, full: bool, instance, verbose: bool) -> BuildReport:
    started = time.perf_counter()
    report = BuildReport()
    wal = paths.landing / "wal"
    if wal.is_dir() and any(wal.iterdir()):  # what a crashed consumer acknowledged is landed before anything is built
        from jushita_etl.landing.batches import BatchStore
        from jushita_etl.landing.wal import recover_orphans

        recover_orphans(BatchStore(paths.landing))
    first_build = not paths.build_db.exists() or not paths.warehouse.exists()

    # The parse runs on a worker thread (DuckDB releases the GIL) while this one imports and loads Dagster. The same
    # thread and writer connection first find out whether there is anything to do at all: a build with nothing new
    # never imports Dagster.
    with ExitStack() as instance_held, ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as pool:
        planned: Future = Future()
        news: Future = Future()
        ingesting = pool.submit(_ingest, paths, full, first_build, planned, news)
        plan = planned.result()
        if plan is None:
            report.nothing_new = True
            ingesting.result()
            _summarize(paths, report)
            report.seconds = time.perf_counter() - started
            return report

        import dagster as dg  # only now: a no-op build never pays for importing Dagster

        from jushita_etl.defs.partitions import partition_key_for
        from jushita_etl.defs.resources import WarehouseResource
        from jushita_etl.definitions import defs as load_defs

        # One planned-materialization event per asset and run instead of one per (asset, partition): a build's run
        # spans many daily partitions, and each event is a SQLite commit. (The cost, per Dagster: a failed run does
        # not mark its partitions failed in the UI; the build keeps its pending dates and retries them anyway.)
        os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
        if instance is None:
            ensure_dagster_home()
            instance = dg.DagsterInstance.get()
        instance_held.enter_context(_instance_databases_kept_open(Path(instance.root_directory)))
        definitions = load_defs()
        resources = {"warehouse": WarehouseResource(data_dir=str(paths.data_dir))}

        def ingested() -> list[date]:
            try:
                return ingesting.result()
            except Exception as exc:  # e.g. a landed file damaged on disk: one clear line, the batch stays un-ingested
                raise BuildFailed(f"ingest failed: {exc}") from exc

        def execute(job_name: str, run_config: dict | None = None, **kwargs) -> None:
            config = {**(run_config or {}), **({} if verbose else QUIET)}
            result = definitions.resolve_job_def(job_name).execute_in_process(
                instance=instance, resources=resources, raise_on_error=False, run_config=config, **kwargs)
            report.runs.append(job_name)
            for evaluation in result.get_asset_check_evaluations():
                if evaluation.check_name == "reconciliation":  # counted on what was just published: no need to count again
                    report.reconciliation = steps.Reconciliation(
                        **{f.name: evaluation.metadata[f.name].value for f in fields(steps.Reconciliation)})
            if not result.success:
                ingested()  # a failed parse is the cause to report, not the run's own attempt at it
                failure = next((e for e in result.all_events if e.is_failure and e.event_specific_data), None)
                error = getattr(getattr(failure, "event_specific_data", None), "error", None)
                while error is not None and error.cause is not None:  # Dagster's step error wraps what failed
                    error = error.cause
                message = error.message.strip().splitlines()[-1] if error else "see the run in the Dagster UI"
                raise BuildFailed(f"{job_name} failed: {message}")

        fold = {"ops": {"fact_tables": {"config": {"full": full}}}}

        def warehouse_run(dates: list[date]) -> None:
            # One run per stretch of partitions: days in between are rebuilt too, which is idempotent and cheaper
            # than a run per day, but a far-off date (a days-late event, an odd pub_time) gets a run of its own
            # instead of stretching one run over every day between.
            for first, last in _stretches(sorted({date.fromisoformat(partition_key_for(d)) for d in dates})):
                execute("warehouse_job", run_config=fold, tags={RANGE_START_TAG: first.isoformat(),
                                                                RANGE_END_TAG: last.isoformat()})

        # When the new batches hold new deliveries, the run starts while the parse may still be running, over the
        # dates the manifest's hints and the earlier pending dates expect: creating and planning it is Dagster
        # Python that would otherwise wait for the parse, and its first step (ingest_landing) waits for the parse's
        # writer, takes it over and finds nothing left. The exact dates are known after the run; any it missed (a
        # hint is a superset of a batch's pub_time dates, but an older copy of a republished message can add a
        # date) get a run of their own below. Batches of redeliveries only change no event date, so they wait
        # for the parse (and end in facts_job); a full refold needs the span of every date, which only the parse
        # knows.
        dates = [] if full or not news.result() else plan.expected_dates
        if dates:
            warehouse_run(dates)
            ingested()
            dates = _published_pending_dates(paths)  # dates the hints missed, and batches landed during the run
        else:
            dates = ingested()

        for _ in range(3):
            if not dates:
                break
            warehouse_run(dates)
            dates = _published_pending_dates(paths)  # batches landed while the run was running
        if not report.runs or report.runs[-1] != "warehouse_job":  # no event date changed: record the ingest, refold
            execute("facts_job", run_config=fold)
    _summarize(paths, report)
    report.seconds = time.perf_counter() - started
    return report


def _published_pending_dates(paths: Paths) -> list[date]:
    """The event dates still pending after a warehouse run, read from the file it published: only an ingest adds
    pending dates, and a run's ingests (its own, and the build's before it) all come before it publishes. A
    read-only open, so it neither waits for the writer lock nor prepares the build database."""
    conn = db.reader(paths)
    try:
        return steps.pending_dates(conn)
    finally:
        conn.close()


def _summarize(paths: Paths, report: BuildReport) -> None:
    if not paths.warehouse.exists():
        return
    conn = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        for name in ["raw_messages", "quarantine", *[t.name for t in steps.EVENT_TABLES], *[f.name for f in steps.FACT_TABLES]]:
            report.tables[name] = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        report.quarantined = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 1").fetchall())
    finally:
        conn.close()
    if report.reconciliation is None:  # nothing was built: counted on the build database, with the parsed deliveries
        with db.writer(paths) as conn:  # (the parse's, handed over, when it found nothing to do)
            report.reconciliation = steps.reconcile(conn)
