"""Subcommands beyond simulate/land: build, demo, consume, broker, publish, users, groups, top-gateway."""

import sys
import time

from jushita_etl.cli import UserError, _paths, subcommand


def print_build_report(report) -> None:
    if report.nothing_new:
        print(f"nothing new to build ({report.seconds:.2f}s)")
    else:
        print(f"built in {report.seconds:.2f}s ({len(report.runs)} Dagster runs: {', '.join(report.runs)})")
    width = max((len(n) for n in report.tables), default=10)
    for name, rows in report.tables.items():
        print(f"  {name:<{width}}  {rows:>12,}")
    if report.quarantined:
        print("  quarantined by reason: " + ", ".join(f"{r} {n:,}" for r, n in report.quarantined.items()))
    if report.reconciliation:
        print("  " + report.reconciliation.line())


def cmd_build(args) -> int:
    from jushita_etl.build import BuildFailed, run_build

    paths = _paths(args)
    if not paths.landing.exists():
        raise UserError(f"nothing landed yet in {paths.landing}; run `jushita-etl land FILE` first")
    try:
        report = run_build(paths, full=args.full, verbose=args.verbose)
    except BuildFailed as exc:
        raise UserError(str(exc)) from None
    print_build_report(report)
    if report.reconciliation and not report.reconciliation.holds:
        print("jushita-etl: reconciliation does not hold", file=sys.stderr)
        return 1
    return 0


@subcommand
def _register_build(sub, common):
    p = sub.add_parser("build", parents=[common], help="fold everything landed into the DuckDB warehouse (in-process Dagster runs)")
    p.add_argument("--full", action="store_true", help="rebuild every partition and refold every fact")
    p.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    p.set_defaults(func=cmd_build)


ANALYST_QUERIES = [
    ("GMV by day", "gmv_by_day"),
    ("Refund rate by seller", "refund_rate_by_seller"),
    ("Median hours from payment to signature", "payment_to_signature_hours"),
]


def print_analyst_queries(paths) -> None:
    """The three example analyst queries of docs/warehouse.md, as pandas frames, on the published file."""
    import pandas as pd

    from jushita_etl.warehouse import db
    from jushita_etl.warehouse.sql import load

    conn = db.reader(paths)
    try:
        with pd.option_context("display.width", 120, "display.max_rows", 40):
            for title, name in ANALYST_QUERIES:
                print(f"\n{title}  (sql/analysis/{name}.sql)")
                print(conn.execute(load(f"analysis/{name}")).df().to_string(index=False))
    finally:
        conn.close()


def cmd_demo(args) -> int:
    from jushita_etl.build import run_build
    from jushita_etl.cli import land_files
    from jushita_etl.demo import DemoOptions, simulate_feed, step

    paths = _paths(args)
    options = DemoOptions(orders=args.orders, sellers=args.sellers, seed=args.seed)
    t = step(f"simulate {options.orders:,} orders of {options.sellers} sellers")
    feed, stats = simulate_feed(paths, options)
    print(f"{stats.lines:,} deliveries ({stats.malformed} malformed on purpose) -> {feed} in {time.perf_counter() - t:.2f}s")
    t = step("land the feed durably as Parquet micro-batches")
    landed, report = land_files([str(feed)], paths.landing, quiet=True)
    print(f"{landed.deliveries:,} deliveries in {landed.batches} batch(es), {landed.body_bytes / 1e6:.1f} MB, "
          f"{landed.deliveries / max(landed.seconds, 1e-9):,.0f} deliveries/s -> {paths.landing}")
    step("build the warehouse (Dagster, in-process)")
    print_build_report(run_build(paths))
    print_analyst_queries(paths)
    print(f"\nAnalysts: duckdb -readonly {paths.warehouse}    Operators: make ui (http://127.0.0.1:3000)")
    return 0


@subcommand
def _register_demo(sub, common):
    p = sub.add_parser("demo", parents=[common], help="run the whole pipeline end to end on a simulated feed")
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--sellers", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)
