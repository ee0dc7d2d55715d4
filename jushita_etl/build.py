"""``jushita-etl build``: materialize, in-process, everything pending, with the same Dagster definitions the UI
runs. Two runs: ingest_job (which finds the pending event dates), then warehouse_job over the span of those dates
(events, facts, publish) — or facts_job alone when no event date changed."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
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


def _anything_to_do(paths: Paths) -> bool:
    """Whether a build has work, decided without starting Dagster: a manifest diff and two small queries."""
    if not paths.build_db.exists() or not paths.warehouse.exists():
        return True
    with db.writer(paths) as conn:
        return bool(steps.new_batches(conn, paths.landing) or steps.pending_dates(conn)
                    or conn.execute("SELECT count(*) FROM etl.dirty_keys").fetchone()[0])


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_build(paths: Paths, *, full: bool = False, instance=None, verbose: bool = False) -> BuildReport:
    import dagster as dg

    from jushita_etl.defs.partitions import partition_key_for
    from jushita_etl.defs.resources import WarehouseResource
    from jushita_etl.definitions import defs as load_defs

    started = time.perf_counter()
    report = BuildReport()
    if paths.landing.exists():  # what a crashed consumer acknowledged is landed before anything is built
        from jushita_etl.landing.batches import BatchStore
        from jushita_etl.landing.wal import recover_orphans

        recover_orphans(BatchStore(paths.landing))
    if not full and not _anything_to_do(paths):
        report.nothing_new = True
        _summarize(paths, report)
        report.seconds = time.perf_counter() - started
        return report

    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    definitions = load_defs()
    resources = {"warehouse": WarehouseResource(data_dir=str(paths.data_dir))}

    def execute(job_name: str, run_config: dict | None = None, **kwargs) -> None:
        config = {**(run_config or {}), **({} if verbose else QUIET)}
        result = definitions.resolve_job_def(job_name).execute_in_process(
            instance=instance, resources=resources, raise_on_error=False, run_config=config, **kwargs)
        report.runs.append(job_name)
        if not result.success:
            failure = next((e for e in result.all_events if e.is_failure and e.event_specific_data), None)
            error = getattr(getattr(failure, "event_specific_data", None), "error", None)
            message = error.message.strip().splitlines()[-1] if error else "see the run in the Dagster UI"
            raise BuildFailed(f"{job_name} failed: {message}")

    execute("ingest_job")
    with db.writer(paths) as conn:
        pending = steps.pending_dates(conn)
        if full:  # every date that has events; each partition in a run is a materialization to record
            pending = [d for d in conn.execute(
                "SELECT min(event_date), max(event_date) FROM etl.deliveries WHERE reason IS NULL").fetchone() if d]
    fold = {"ops": {fact.name: {"config": {"full": full}} for fact in steps.FACT_TABLES}}
    if pending:
        # One run over the span of pending dates: days in between are rebuilt too, which is idempotent and
        # cheaper than a Dagster run per stretch of days.
        execute("warehouse_job", run_config=fold, tags={RANGE_START_TAG: partition_key_for(pending[0]),
                                                        RANGE_END_TAG: partition_key_for(pending[-1])})
    else:
        execute("facts_job", run_config=fold)
    _summarize(paths, report)
    report.seconds = time.perf_counter() - started
    return report


def _summarize(paths: Paths, report: BuildReport) -> None:
    if not paths.warehouse.exists():
        return
    conn = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        for name in ["raw_messages", "quarantine", *[t.name for t in steps.EVENT_TABLES], *[f.name for f in steps.FACT_TABLES]]:
            report.tables[name] = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        report.quarantined = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 1").fetchall())
        report.reconciliation = steps.reconcile(conn)
    finally:
        conn.close()
