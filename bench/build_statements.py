"""The build's statements without Dagster and without the lake: prepare, ingest, event report, facts, scenarios
and reconciliation (``jushita_etl.warehouse``), on a DuckDB file attached as the lake, under whichever duckdb runs
this script. ``bench/run.py``'s baseline section runs it under the pinned 1.5.5 and under 2.0.1 to tell what the
pin costs this code.

Usage: python bench/build_statements.py DATA_DIR (its landing/ is read; build/ is replaced). Prints one JSON line.
"""

import json
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb

from jushita_etl.settings import Paths
from jushita_etl.warehouse import db, scenarios, sql, steps


def main() -> None:
    paths = Paths(Path(sys.argv[1]))
    shutil.rmtree(paths.build_dir, ignore_errors=True)
    paths.build_dir.mkdir(parents=True)
    started = time.perf_counter()
    conn = duckdb.connect()
    conn.execute(f"ATTACH {sql.literal(str(paths.build_dir / 'statements.duckdb'))} AS lake")
    conn.execute("USE lake")
    db.prepare(conn)
    steps.ingest(conn, paths)
    steps.report_events(conn)
    before = steps.row_counts(conn, [fact.name for fact in steps.FACT_TABLES])
    for fact in steps.FACT_TABLES:
        steps.refold_fact(conn, fact, before=before[fact.name])
    for table in scenarios.SCENARIO_TABLES:
        scenarios.refresh(conn, table, before=0)
    holds = steps.reconcile(conn).holds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"duckdb": duckdb.__version__, "seconds": round(time.perf_counter() - started, 2),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), "reconciliation_holds": holds}))


if __name__ == "__main__":
    main()
