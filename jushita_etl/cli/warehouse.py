"""The warehouse's subcommands: simulate, land, build, rebuild, unreadable, sql, alerts, status, demo."""

import sys
import time
from pathlib import Path

from jushita_etl.cli.common import UserError, data_paths, write_json_lines

def cmd_simulate(args) -> int:
    from jushita_etl.simulate.feed import FeedConfig, write_feed

    cfg = FeedConfig(sellers=args.sellers, orders=args.orders, start=args.start, days=args.days, seed=args.seed,
                     redelivery_rate=args.redelivery_rate, duplicate_rate=args.duplicate_rate,
                     late_rate=args.late_rate, malformed_rate=args.malformed_rate)
    started = time.perf_counter()
    if args.out == "-":
        stats = write_feed(sys.stdout.buffer, cfg)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "wb", buffering=1 << 20) as fh:
            stats = write_feed(fh, cfg)
    took = time.perf_counter() - started
    print(f"simulated {stats.lines:,} lines ({stats.deliveries:,} distinct deliveries, {stats.malformed:,} malformed) "
          f"in {took:.2f}s ({stats.lines / max(took, 1e-9):,.0f} lines/s) -> {args.out}", file=sys.stderr)
    return 0


def cmd_land(args) -> int:
    flush = {"flush_rows": args.flush_rows, "flush_bytes": args.flush_mb << 20, "flush_seconds": args.flush_seconds}
    from jushita_etl.landing.replay import land_files

    paths = data_paths(args)
    try:
        stats, report = land_files(args.files, paths.landing, **flush)
    except FileNotFoundError as exc:
        raise UserError(f"no such replay file: {exc.filename}") from None
    print(f"landed {stats.deliveries:,} deliveries in {stats.batches} batch(es), {stats.body_bytes / 1e6:,.1f} MB of bodies, "
          f"{stats.seconds:.2f}s ({stats.deliveries / max(stats.seconds, 1e-9):,.0f}/s); {len(report.bad)} bad line(s) skipped")
    from jushita_etl.warehouse.landed import Shipper

    try:
        Shipper(paths).final()  # a shared lake: the batches are registered in its catalog
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    return 0


def _register_simulate_land(sub, common):
    p = sub.add_parser("simulate", parents=[common], help="write a simulated feed as replay NDJSON")
    p.add_argument("--out", required=True, help="output file, - for stdout")
    p.add_argument("--sellers", type=int, default=4)
    p.add_argument("--orders", type=int, default=800)
    p.add_argument("--start", default="2026-11-09", help="first day, YYYY-MM-DD (China time)")
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--redelivery-rate", type=float, default=0.01)
    p.add_argument("--duplicate-rate", type=float, default=0.015)
    p.add_argument("--late-rate", type=float, default=0.01)
    p.add_argument("--malformed-rate", type=float, default=0.002)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("land", parents=[common], help="land replay files into the landing zone (- = stdin)")
    p.add_argument("files", nargs="+")
    p.add_argument("--flush-rows", type=int, default=200_000, help="commit a batch at this many deliveries")
    p.add_argument("--flush-mb", type=int, default=128, help="... or at this many MB of bodies")
    p.add_argument("--flush-seconds", type=float, default=2.0, help="... or when the oldest buffered delivery is this old")
    p.set_defaults(func=cmd_land)



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
    for batch in report.unreadable:
        print(f"jushita-etl: {batch.line()}", file=sys.stderr)
    if report.unreadable:
        print("jushita-etl: land its source again, then `jushita-etl unreadable --resolve BATCH_ID` if it is not "
              "resolved by itself (docs/runbook.md)", file=sys.stderr)


def cmd_build(args) -> int:
    from jushita_etl.build import BuildFailed, run_build

    paths = data_paths(args)
    from jushita_etl.settings import lake

    if not paths.landing.exists() and not lake(paths).shared:
        raise UserError(f"nothing landed yet in {paths.landing}; run `jushita-etl land FILE` first")
    from jushita_etl.warehouse.db import WarehouseBusy

    try:
        report = run_build(paths, full=args.full, verbose=args.verbose, wait=args.wait)
    except (BuildFailed, WarehouseBusy) as exc:
        raise UserError(str(exc)) from None
    print_build_report(report)
    if report.reconciliation and not report.reconciliation.holds:
        print("jushita-etl: reconciliation does not hold", file=sys.stderr)
        return 1
    return 1 if report.unreadable else 0  # built, but landed data waits for a person


def _register_build(sub, common):
    p = sub.add_parser("build", parents=[common], help="fold everything landed into the DuckDB warehouse (in-process Dagster runs)")
    p.add_argument("--full", action="store_true", help="rebuild every partition and refold every fact")
    p.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    p.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                   help="how long to wait while another build or a sensor's run writes the warehouse (default 600)")
    p.set_defaults(func=cmd_build)


def cmd_rebuild(args) -> int:
    from jushita_etl.build import BuildFailed, rebuild

    paths = data_paths(args)
    if not paths.landing.exists():
        raise UserError(f"nothing landed in {paths.landing}: there is nothing to rebuild from")
    try:
        aside, report = rebuild(paths, verbose=args.verbose)
    except BuildFailed as exc:
        raise UserError(str(exc)) from None
    print(f"the old lake was set aside in {aside} (delete it once the new one is checked)")
    print_build_report(report)
    return 0


def _register_rebuild(sub, common):
    p = sub.add_parser("rebuild", parents=[common], help="set the lake aside and build it anew from the landing zone "
                       "(a lake data file or the catalog lost or damaged)")
    p.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    p.set_defaults(func=cmd_rebuild)


def _reader(args):
    """The analysts' read-only connection, or one clear line when there is nothing to read."""
    from jushita_etl.warehouse import lake

    try:
        return lake.reader(data_paths(args))
    except (lake.NoWarehouseYet, lake.LakeUnavailable) as exc:
        raise UserError(str(exc)) from None


def cmd_sql(args) -> int:
    conn = _reader(args)
    try:
        if args.query is None:
            return _sql_session(conn)
        _print_result(conn, args.query, args.format)
    finally:
        conn.close()
    return 0


def _print_result(conn, query: str, fmt: str) -> None:
    import duckdb

    try:
        relation = conn.sql(query)
    except duckdb.Error as exc:
        raise UserError(str(exc).strip().splitlines()[0]) from None
    if relation is None:  # a statement without a result (SET, ...)
        return
    if fmt == "table":
        relation.show(max_width=200, max_rows=100)
        return
    columns = relation.columns
    rows = relation.fetchall()
    if fmt == "json":
        write_json_lines(dict(zip(columns, row)) for row in rows)
    else:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)



def _sql_session(conn) -> int:
    """A minimal interactive session: statements end with ';', `.quit` or Ctrl-D leaves."""
    import readline  # noqa: F401 (line editing and history for input())

    print("jushita-etl sql: the last published build, read-only. End statements with ';'. .tables lists the "
          "tables, .quit leaves.")
    buffer: list[str] = []
    while True:
        try:
            line = input("... " if buffer else "D ")
        except EOFError:
            print()
            return 0
        if not buffer and line.strip() in (".quit", ".exit"):
            return 0
        if not buffer and line.strip() == ".tables":
            line = "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'lake' ORDER BY 1, 2;"
        buffer.append(line)
        if line.rstrip().endswith(";"):
            try:
                _print_result(conn, "\n".join(buffer), "table")
            except UserError as exc:
                print(f"Error: {exc}")
            buffer = []


def _register_sql(sub, common):
    p = sub.add_parser("sql", parents=[common], help="query the last published build (one query, or an interactive session)")
    p.add_argument("query", nargs="?", help="a SQL query; without one, an interactive session")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV")
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="print JSON lines")
    p.set_defaults(func=cmd_sql, format="table")


ALERT_COLUMNS = ["alert_type", "seller_nick", "tid", "out_sid", "refund_id", "company_name", "last_action", "since",
                 "hours_open", "refund_fee"]


def cmd_alerts(args) -> int:
    from jushita_etl.warehouse.sql import load

    conn = _reader(args)
    try:
        cursor = conn.execute(load("analysis/open_alerts"), {"alert_type": args.type, "seller_nick": args.seller})
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    finally:
        conn.close()
    if args.json:
        write_json_lines(rows)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows):,} open alerts (as of {rows[0]['as_of'] if rows else '-'}), newest first")
    for column in ALERT_COLUMNS:
        table.add_column(column, justify="right" if column in ("tid", "refund_id", "hours_open", "refund_fee") else "left")
    for row in rows:
        table.add_row(*["" if row[c] is None else str(row[c]) for c in ALERT_COLUMNS])
    Console(width=None if sys.stdout.isatty() else 200).print(table)  # piped: wide enough for every column
    return 0


def _register_alerts(sub, common):
    p = sub.add_parser("alerts", parents=[common], help="the open shipment alerts and refunds to intercept, newest first")
    p.add_argument("--type", help="only this alert type (delivery_failed, delivery_stalled, transport_stalled, "
                   "pickup_delayed, consign_delayed, refund_interception)")
    p.add_argument("--seller", help="only this seller nick")
    p.add_argument("--json", action="store_true", help="JSON lines, for a downstream job")
    p.set_defaults(func=cmd_alerts)


def cmd_status(args) -> int:
    from jushita_etl.build import ensure_dagster_home
    from jushita_etl.status import collect
    from jushita_etl.warehouse import lake

    import dagster as dg

    ensure_dagster_home()
    try:
        with dg.DagsterInstance.get() as instance:
            status = collect(data_paths(args), instance)
    except lake.LakeUnavailable as exc:
        raise UserError(str(exc)) from None
    if args.json:
        write_json_lines([status.as_dict()])
    else:
        print("consumers:         " + (", ".join(f"{c['log']} {'alive' if c['alive'] else 'DEAD'}, last landed "
                                                f"{c['last_landed'] or '-'}" for c in status.consumers) or "none here"))
        print(f"backlog:           {status.backlog_batches} batch(es) landed, not built"
              + (f" (oldest landed {status.oldest_unbuilt_landed_at})" if status.oldest_unbuilt_landed_at else ""))
        print(f"last published:    {status.last_published_at or '-'}")
        for job, run in status.last_runs.items():
            print(f"{'last ' + job + ':':<19}{run['status']}, {run['seconds']} s, ended {run['ended']}")
        print(f"watermark:         {status.watermark or '-'}"
              + (f" ({status.watermark_lag_hours} h behind the clock)" if status.watermark_lag_hours is not None else ""))
        print(f"quarantine rate:   {status.quarantine_rate if status.quarantine_rate is not None else '-'} "
              f"of {status.deliveries:,} deliveries")
        print("open alerts:       " + (", ".join(f"{k} {n:,}" for k, n in status.open_alerts.items()) or "none"))
        for problem in status.problems:
            print(f"NEEDS A PERSON:    {problem}")
    return 1 if status.problems else 0


def _register_status(sub, common):
    p = sub.add_parser("status", parents=[common], help="consumers, backlog, last build, watermark, quarantine, alerts; "
                       "exits 1 when something needs a person")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_status)


def cmd_unreadable(args) -> int:
    from jushita_etl.warehouse import db, unreadable

    paths = data_paths(args)
    with db.writer(paths) as conn:
        if args.resolve:
            if not unreadable.resolve(conn, args.resolve):
                raise UserError(f"no unresolved unreadable batch {args.resolve}: see `jushita-etl unreadable`")
            print(f"resolved {args.resolve}")
            return 0
        batches = unreadable.unresolved(conn)
    if args.json:
        write_json_lines(vars(batch) for batch in batches)
    else:
        for batch in batches:
            print(batch.line())
        if not batches:
            print("no unreadable landed batch waits for repair")
    return 1 if batches else 0


def _register_unreadable(sub, common):
    p = sub.add_parser("unreadable", parents=[common], help="landed batches set aside because they cannot be read; "
                       "exits 1 while any waits for repair")
    p.add_argument("--resolve", metavar="BATCH_ID", help="mark a batch repaired (its source was landed again)")
    p.add_argument("--json", action="store_true", help="JSON lines")
    p.set_defaults(func=cmd_unreadable)


ANALYST_QUERIES = [
    ("GMV by day", "gmv_by_day"),
    ("Refund rate by seller", "refund_rate_by_seller"),
    ("Median hours from payment to signature", "payment_to_signature_hours"),
    ("物流 Open shipment alerts by type and seller (customer-care lead)", "open_alerts_by_type"),
    ("退款 Refunds to intercept before the parcel is signed (finance approver)", "refunds_to_intercept"),
    ("评价 Most mentioned negative keywords (category manager)", "negative_keywords"),
    ("商品 Items whose price changed most often (category manager)", "item_price_changes"),
    ("分销 Distributors by paid amount (channel manager)", "top_distributors"),
]


def print_analyst_queries(paths) -> None:
    """The example analyst queries of docs/warehouse.md (one per business scenario among them), as pandas frames,
    on the published build."""
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
    from jushita_etl.landing.replay import land_files
    from jushita_etl.demo import FeedConfig, demo_broker, demo_gateway, simulate_feed, step
    from jushita_etl.top.client import TopClient

    paths = data_paths(args)
    options = FeedConfig(orders=args.orders, sellers=args.sellers, seed=args.seed)
    started = time.perf_counter()
    with demo_gateway(options) as (top_url, sessions):
        step("add the demo sellers to the Jushita message sync (local TOP gateway, signed requests)")
        client = TopClient.from_env(url=top_url)
        for session, nick in sessions.items():
            client.user_add(session=session)
            user = client.user_get(nick)["ons_user"]
            print(f"  {nick}: sync {'on' if user['is_valid'] else 'off'} (user_id {user['user_id']})")

    t = step(f"simulate {options.orders:,} orders of {options.sellers} sellers")
    feed, stats = simulate_feed(paths, options)
    print(f"{stats.lines:,} deliveries ({stats.malformed} malformed on purpose) -> {feed} in {time.perf_counter() - t:.2f}s")

    if args.direct:
        step("land the feed directly (no broker)")
        landed, _ = land_files([str(feed)], paths.landing, quiet=True)
        print(f"{landed.deliveries:,} deliveries in {landed.batches} batch(es) -> {paths.landing}")
    else:
        from jushita_etl.mq.consume import Bounds, run_consumer
        from jushita_etl.mq.publish import publish_file
        from jushita_etl.mq import MQSettings

        store = paths.data_dir / "demo" / "broker"
        with demo_broker(store) as address:
            t = step(f"publish through the real RocketMQ producer to the local broker at {address}")
            published = publish_file(str(feed), namesrv=address, topic="jushita_sync_demo", log_dir=paths.logs / "rocketmq")
            print(f"{published.sent:,} messages in {published.seconds:.2f}s ({published.sent / max(published.seconds, 1e-9):,.0f}/s)")
            t = step("consume with the real RocketMQ consumer; each message durable on disk before it is acknowledged")
            report = run_consumer(MQSettings(namesrv=address, group="jushita-etl-demo", topic="jushita_sync_demo"),
                                  paths, Bounds(max_messages=published.sent, idle_timeout=10, duration=300))
            print(f"{report.landed:,} deliveries landed in {report.batches} batch(es), {report.rate:,.0f}/s -> {paths.landing}")
        print("local broker stopped")

    step("build the warehouse (Dagster, in-process)")
    print_build_report(run_build(paths))
    print_analyst_queries(paths)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
    print("Analysts: jushita-etl sql (or jushita_etl.connect() in Python)    Operators: make ui, then http://127.0.0.1:3000")
    return 0


def _register_demo(sub, common):
    p = sub.add_parser("demo", parents=[common], help="run the whole pipeline end to end on a simulated feed")
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--sellers", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--direct", action="store_true", help="land the simulated file directly instead of through the broker")
    p.set_defaults(func=cmd_demo)


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_simulate_land(sub, common)
    _register_build(sub, common)
    _register_rebuild(sub, common)
    _register_sql(sub, common)
    _register_alerts(sub, common)
    _register_status(sub, common)
    _register_unreadable(sub, common)
    _register_demo(sub, common)
