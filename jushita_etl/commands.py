"""Subcommands beyond simulate/land: build, demo, consume, broker, publish, users, groups, top-gateway."""

import argparse
import sys
import time
from pathlib import Path

from jushita_etl.cli import UserError, _env, _paths, subcommand
from jushita_etl.mq import DEFAULT_THREADS


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

    paths = _paths(args)
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


@subcommand
def _register_build(sub, common):
    p = sub.add_parser("build", parents=[common], help="fold everything landed into the DuckDB warehouse (in-process Dagster runs)")
    p.add_argument("--full", action="store_true", help="rebuild every partition and refold every fact")
    p.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    p.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                   help="how long to wait while another build or a sensor's run writes the warehouse (default 600)")
    p.set_defaults(func=cmd_build)


def cmd_rebuild(args) -> int:
    from jushita_etl.build import BuildFailed, rebuild

    paths = _paths(args)
    if not paths.landing.exists():
        raise UserError(f"nothing landed in {paths.landing}: there is nothing to rebuild from")
    try:
        aside, report = rebuild(paths, verbose=args.verbose)
    except BuildFailed as exc:
        raise UserError(str(exc)) from None
    print(f"the old lake was set aside in {aside} (delete it once the new one is checked)")
    print_build_report(report)
    return 0


@subcommand
def _register_rebuild(sub, common):
    p = sub.add_parser("rebuild", parents=[common], help="set the lake aside and build it anew from the landing zone "
                       "(a lake data file or the catalog lost or damaged)")
    p.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    p.set_defaults(func=cmd_rebuild)


def _reader(args):
    """The analysts' read-only connection, or one clear line when there is nothing to read."""
    from jushita_etl.warehouse import lake

    try:
        return lake.reader(_paths(args))
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
        _write_json_lines(dict(zip(columns, row)) for row in rows)
    else:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)


def _write_json_lines(records) -> None:
    """One JSON object per line on stdout, for downstream jobs (ids exact, times and decimals as text)."""
    import orjson

    for record in records:
        sys.stdout.buffer.write(orjson.dumps(record, default=str) + b"\n")


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


@subcommand
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
        _write_json_lines(rows)
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


@subcommand
def _register_alerts(sub, common):
    p = sub.add_parser("alerts", parents=[common], help="the open shipment alerts and refunds to intercept, newest first")
    p.add_argument("--type", help="only this alert type (delivery_failed, delivery_stalled, transport_stalled, "
                   "pickup_delayed, consign_delayed, refund_interception)")
    p.add_argument("--seller", help="only this seller nick")
    p.add_argument("--json", action="store_true", help="JSON lines, for a downstream job")
    p.set_defaults(func=cmd_alerts)


def cmd_ui(args) -> int:
    """The operator's mode: the Dagster webserver and daemon for this project (``dagster dev``), in a process group
    of their own so that SIGTERM or Ctrl-C stops every process they started, also when this command runs in the
    background (a shell starts background jobs with SIGINT ignored, and Dagster copies that to SIGTERM)."""
    import os
    import signal
    import subprocess

    from jushita_etl.build import PROJECT_DAGSTER_HOME, ensure_dagster_home

    paths = _paths(args)
    home = ensure_dagster_home()
    if not (home / "dagster.yaml").exists() and (PROJECT_DAGSTER_HOME / "dagster.yaml").exists():
        import shutil

        shutil.copy(PROJECT_DAGSTER_HOME / "dagster.yaml", home / "dagster.yaml")
    workspace = PROJECT_DAGSTER_HOME.parent / "workspace.yaml"
    env = {**os.environ, "DAGSTER_HOME": str(home), "JUSHITA_DATA_DIR": str(paths.data_dir)}
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.Popen([str(dagster), "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)],
                            cwd=workspace.parent, env=env, start_new_session=True,
                            preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)])
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}, data {paths.data_dir}); stop with Ctrl-C",
          file=sys.stderr, flush=True)
    stopping = []

    def stop(*_):
        stopping.append(True)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while proc.poll() is None:
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stopping and len(stopping) == 1:
                stopping.append(time.monotonic())
            if len(stopping) > 1 and time.monotonic() - stopping[1] > 8:  # the group must be gone within 10 s
                os.killpg(proc.pid, signal.SIGKILL)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still left (a run's worker)
    except ProcessLookupError:
        pass
    return 0 if stopping else proc.returncode


@subcommand
def _register_ui(sub, common):
    p = sub.add_parser("ui", parents=[common], help="the Dagster webserver and daemon (sensors, schedules, backfills)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_ui)


def cmd_status(args) -> int:
    from jushita_etl.build import ensure_dagster_home
    from jushita_etl.status import collect
    from jushita_etl.warehouse import lake

    import dagster as dg

    ensure_dagster_home()
    try:
        with dg.DagsterInstance.get() as instance:
            status = collect(_paths(args), instance)
    except lake.LakeUnavailable as exc:
        raise UserError(str(exc)) from None
    if args.json:
        _write_json_lines([status.as_dict()])
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


@subcommand
def _register_status(sub, common):
    p = sub.add_parser("status", parents=[common], help="consumers, backlog, last build, watermark, quarantine, alerts; "
                       "exits 1 when something needs a person")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_status)


def cmd_unreadable(args) -> int:
    from jushita_etl.warehouse import db, unreadable

    paths = _paths(args)
    with db.writer(paths) as conn:
        if args.resolve:
            if not unreadable.resolve(conn, args.resolve):
                raise UserError(f"no unresolved unreadable batch {args.resolve}: see `jushita-etl unreadable`")
            print(f"resolved {args.resolve}")
            return 0
        batches = unreadable.unresolved(conn)
    if args.json:
        _write_json_lines(vars(batch) for batch in batches)
    else:
        for batch in batches:
            print(batch.line())
        if not batches:
            print("no unreadable landed batch waits for repair")
    return 1 if batches else 0


@subcommand
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
    from jushita_etl.cli import land_files
    from jushita_etl.demo import FeedConfig, demo_broker, demo_gateway, simulate_feed, step
    from jushita_etl.top.client import TopClient

    paths = _paths(args)
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
        from jushita_etl.mq.source import MQSettings

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


@subcommand
def _register_demo(sub, common):
    p = sub.add_parser("demo", parents=[common], help="run the whole pipeline end to end on a simulated feed")
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--sellers", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--direct", action="store_true", help="land the simulated file directly instead of through the broker")
    p.set_defaults(func=cmd_demo)


# --- RocketMQ ----------------------------------------------------------------------------------------------

def _mq_settings(args):
    from jushita_etl.mq.source import MQSettings

    missing = [name for name in ("namesrv", "group", "topic") if not getattr(args, name)]
    if missing:
        raise UserError("missing " + ", ".join(f"--{m} (or $JUSHITA_MQ_{m.upper()})" for m in missing))
    return MQSettings(namesrv=args.namesrv, group=args.group, topic=args.topic, tags=args.tags, model=args.model,
                      access_key=args.access_key, secret_key=args.secret_key, channel=args.channel, threads=args.threads)


def cmd_consume(args) -> int:
    from jushita_etl.mq.consume import Bounds, ConsumerBusy, run_consumer

    settings = _mq_settings(args)
    _probe(settings.namesrv, settings.topic, args, topic_must_exist=True)
    paths = _paths(args)
    bounds = Bounds(max_messages=args.max_messages, idle_timeout=args.idle_timeout, duration=args.duration)
    print(f"consuming {settings.topic} ({settings.tags}) as {settings.group} [{settings.model}] from {settings.namesrv} "
          f"-> {paths.landing}; stop with Ctrl-C", file=sys.stderr, flush=True)
    from jushita_etl.warehouse.landed import Shipper

    shipper = Shipper(paths)
    try:
        report = run_consumer(settings, paths, bounds, handle_signals=True, log_level=args.log_level,
                              on_progress=shipper.tick)
    except ConsumerBusy as exc:
        raise UserError(str(exc)) from None
    try:
        shipper.final()
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    print(f"landed {report.landed:,} deliveries in {report.batches} batch(es), {report.rate:,.0f}/s while active; "
          f"stopped by {report.stopped_by}" + (f"; recovered {report.recovered:,} from an earlier crash" if report.recovered else ""))
    if report.landed == 0 and report.failed:
        raise UserError(f"no delivery could be landed ({report.failed} failed); see {paths.logs / 'rocketmq'}")
    return 0


def cmd_broker(args) -> int:
    import asyncio
    import logging

    from jushita_etl.mq.broker import Broker, serve

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    broker = Broker(args.host, args.port, store=Path(args.store) if args.store else None, secret=args.secret,
                    delay_scale=args.delay_scale, max_reconsume=args.max_reconsume, new_group_from=args.new_group_from)

    def ready(b):
        print(f"dev broker listening on {b.address} (name server and broker)", flush=True)

    asyncio.run(serve(broker, ready))
    return 0


def cmd_publish(args) -> int:
    from jushita_etl.mq.publish import publish_file

    if not Path(args.file).is_file():
        raise UserError(f"no such replay file: {args.file}")
    if not args.namesrv:
        raise UserError("missing --namesrv (or $JUSHITA_MQ_NAMESRV)")
    _probe(args.namesrv, args.topic, args)
    report = publish_file(args.file, namesrv=args.namesrv, topic=args.topic, tags=args.tags,
                          access_key=args.access_key, secret_key=args.secret_key, channel=args.channel,
                          log_dir=_paths(args).logs / "rocketmq", producers=args.producers,
                          on_bad=lambda bad: print(f"skipped {bad.where}: {bad.reason}", file=sys.stderr))
    by = f" by {report.producers} producers" if report.producers > 1 else ""
    print(f"published {report.sent:,} messages to {args.topic}{by} in {report.seconds:.2f}s "
          f"({report.sent / max(report.seconds, 1e-9):,.0f}/s)")
    return 0


def _probe(namesrv, topic, args, *, topic_must_exist: bool = False) -> None:
    from jushita_etl.mq.remoting import ProbeError, probe_route

    try:
        probe_route(namesrv, topic, access_key=args.access_key, secret_key=args.secret_key, channel=args.channel,
                    topic_must_exist=topic_must_exist)
    except ProbeError as exc:
        raise UserError(str(exc)) from None


def _credentials(p):
    p.add_argument("--access-key", default=_env("JUSHITA_MQ_ACCESS_KEY"), help="ONS AccessKey (the appkey); $JUSHITA_MQ_ACCESS_KEY")
    p.add_argument("--secret-key", default=_env("JUSHITA_MQ_SECRET_KEY"),
                   help="ONS SecretKey; prefer $JUSHITA_MQ_SECRET_KEY (arguments are visible to other users)")
    p.add_argument("--channel", default=_env("JUSHITA_MQ_CHANNEL", "CLOUD"), help="OnsChannel (default CLOUD)")


def _float_env(name):
    value = _env(name)
    return float(value) if value else None


@subcommand
def _register_mq(sub, common):
    p = sub.add_parser("consume", parents=[common], help="consume a RocketMQ/ONS topic into the landing zone")
    p.add_argument("--namesrv", default=_env("JUSHITA_MQ_NAMESRV"), help="name server HOST:PORT; $JUSHITA_MQ_NAMESRV")
    p.add_argument("--group", default=_env("JUSHITA_MQ_GROUP"), help="consumer group (ConsumerId); $JUSHITA_MQ_GROUP")
    p.add_argument("--topic", default=_env("JUSHITA_MQ_TOPIC"), help="topic; $JUSHITA_MQ_TOPIC")
    p.add_argument("--tags", default=_env("JUSHITA_MQ_TAGS", "*"), help="tag expression, e.g. 'A || B'; $JUSHITA_MQ_TAGS")
    p.add_argument("--model", choices=["clustering", "broadcasting"], default=_env("JUSHITA_MQ_MODEL", "clustering"))
    _credentials(p)
    p.add_argument("--threads", type=int, default=int(_env("JUSHITA_MQ_THREADS", str(DEFAULT_THREADS))),
                   help="consume threads: pulled batches being landed at once (each waits for one fsync)")
    p.add_argument("--max-messages", type=int, default=int(_env("JUSHITA_MQ_MAX_MESSAGES", "0")) or None)
    p.add_argument("--idle-timeout", type=float, default=_float_env("JUSHITA_MQ_IDLE_TIMEOUT"), help="stop after S seconds without messages")
    p.add_argument("--duration", type=float, default=_float_env("JUSHITA_MQ_DURATION"), help="stop after S seconds")
    p.add_argument("--log-level", default=_env("JUSHITA_MQ_LOG_LEVEL", "warn"), choices=["fatal", "error", "warn", "info", "debug"],
                   help="level of the client's own log (under <data>/logs/rocketmq/)")
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("broker", parents=[common], help="run the local development RocketMQ broker (NOT for production)",
                       description="A development and test broker: name server and broker in one asyncio process on "
                                   "127.0.0.1, speaking the RocketMQ remoting protocol to the real client. Not for production.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9876)
    p.add_argument("--store", help="directory for the message log and offsets (restart-safe); in memory without it")
    p.add_argument("--secret", default=_env("JUSHITA_BROKER_SECRET"), help="enforce request signatures with this SecretKey")
    p.add_argument("--delay-scale", type=float, default=1.0, help="scale retry delays (0.1 makes tests fast)")
    p.add_argument("--max-reconsume", type=int, default=16)
    p.add_argument("--new-group-from", choices=["first", "last"], default="first")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("publish", parents=[common], help="publish a replay file through the real RocketMQ producer")
    p.add_argument("file")
    p.add_argument("--namesrv", default=_env("JUSHITA_MQ_NAMESRV"))
    p.add_argument("--topic", default=_env("JUSHITA_MQ_TOPIC", "jushita_sync"))
    p.add_argument("--tags", default=None, help="tags for every message (default: the line's tags, else the envelope topic)")
    p.add_argument("--producers", type=int, default=None,
                   help="producer processes, each sending one range of the file (default: 2 for files of 16 MB "
                        "and more on 2+ cores, else 1)")
    _credentials(p)
    p.set_defaults(func=cmd_publish)


# --- TOP: sync users and groups ----------------------------------------------------------------------------

def _top_client(args):
    from jushita_etl.top.client import TopClient

    try:
        client = TopClient.from_env(url=args.url, sign_method=args.sign_method, session=getattr(args, "session", None))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.debug:
        client.debug = lambda line: print(f"debug: {line}", file=sys.stderr)
    return client


def _top_call(args, fn, human):
    import orjson

    from jushita_etl.top.client import TopError, TopTransportError

    client = _top_client(args)
    try:
        result = fn(client)
    except TopError as exc:
        raise UserError(exc.sub_msg or exc.msg or str(exc)) from None
    except TopTransportError as exc:
        raise UserError(str(exc)) from None
    result = {k: v for k, v in result.items() if k != "request_id"}
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(human(result))
    return 0


def cmd_users(args) -> int:
    from jushita_etl.top.client import unwrap_list

    nick = getattr(args, "nick", None)
    if args.action == "add":
        topics = [t for t in (args.topics or "").split(",") if t] or None
        return _top_call(args, lambda c: c.user_add(topics), lambda r: "added to the message sync" if r.get("is_success") else f"not added: {r}")
    if args.action == "delete":
        return _top_call(args, lambda c: c.user_delete(nick), lambda r: f"{nick} removed from the message sync")
    if args.action == "get":
        def show(r):
            user = r.get("ons_user")
            if not user:
                return f"{nick} is not a sync user"
            state = "valid" if user.get("is_valid") else "AUTHORISATION EXPIRED"
            return f"{user['user_nick']} (user_id {user['user_id']}): {state}; enabled {user.get('created')}, last {user.get('modified')}"
        return _top_call(args, lambda c: c.user_get(nick), show)
    return _top_call(args, lambda c: c.topics_get(nick),
                     lambda r: "\n".join(unwrap_list(r.get("results"))) or f"no topics for {nick}")


def cmd_groups(args) -> int:
    from jushita_etl.top.client import unwrap_list

    nicks = [n for n in (getattr(args, "nicks", None) or "").split(",") if n]
    if args.action == "add":
        if not nicks:
            raise UserError("groups add needs --nicks a,b")
        return _top_call(args, lambda c: c.group_add(args.name, nicks), lambda r: f"group {r.get('group_name')} created {r.get('created')}")
    if args.action == "get":
        def show(r):
            groups = unwrap_list(r.get("groups"))
            lines = [f"{g.get('name')} (id {g.get('id')}, created {g.get('gmt_create')})" +
                     (f": {', '.join(g['user_nicks'])}" if g.get("user_nicks") else "") for g in groups]
            return "\n".join([f"{r.get('total_results', len(groups))} group(s)", *lines])
        return _top_call(args, lambda c: c.group_get(args.names or None), show)
    return _top_call(args, lambda c: c.group_delete(args.name, nicks or None),
                     lambda r: f"group {args.name} " + ("updated" if nicks else "deleted"))


def cmd_top_gateway(args) -> int:
    import json
    import os

    from jushita_etl.top.gateway import GatewayState, make_server

    app_key, secret = os.environ.get("JUSHITA_APP_KEY"), os.environ.get("JUSHITA_APP_SECRET")
    if not app_key or not secret:
        raise UserError("the gateway verifies signatures: set JUSHITA_APP_KEY and JUSHITA_APP_SECRET")
    sessions = {}
    for pair in filter(None, os.environ.get("JUSHITA_TOP_GATEWAY_SESSIONS", "").split(",")):
        nick, _, key = pair.partition("=")
        sessions[key] = nick
    if args.sessions_file:
        sessions.update(json.loads(Path(args.sessions_file).read_text()))
    state = GatewayState({app_key: secret}, sessions, Path(args.state) if args.state else None,
                         calls_per_window=args.calls_per_window, window_seconds=args.window)
    server = make_server(state, args.host, args.port)
    print(f"dev TOP gateway listening on http://{server.server_address[0]}:{server.server_address[1]}/router/rest", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


@subcommand
def _register_top(sub, common):
    from jushita_etl.top.signing import SIGN_METHODS

    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--url", default=None, help="TOP gateway (default $JUSHITA_TOP_URL or the public router)")
    top.add_argument("--sign-method", choices=SIGN_METHODS, default=None, help="default $JUSHITA_TOP_SIGN_METHOD or md5")
    top.add_argument("--json", action="store_true", help="print the API's result object as JSON")
    top.add_argument("--debug", action="store_true", help="print requests (secrets masked)")

    users = sub.add_parser("users", help="sellers in the Jushita message sync (taobao.jushita.jms.user.*)",
                           description="Credentials: $JUSHITA_APP_KEY, $JUSHITA_APP_SECRET, $JUSHITA_SESSION_KEY.")
    actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("add", parents=[top], help="add the seller of the session to the sync")
    p.add_argument("--topics", help="comma-separated topics (default: every topic the app subscribes)")
    p.add_argument("--session", help="the seller's session key (default $JUSHITA_SESSION_KEY)")
    for action, help_ in (("delete", "remove a seller from the sync"), ("get", "is a seller's sync on and valid?"),
                          ("topics", "topics enabled for a seller")):
        p = actions.add_parser(action, parents=[top], help=help_)
        p.add_argument("nick")
    users.set_defaults(func=cmd_users)

    groups = sub.add_parser("groups", help="message groups (taobao.jushita.jms.group.*)")
    actions = groups.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("add", parents=[top], help="create a group or add sellers to it")
    p.add_argument("name")
    p.add_argument("--nicks", required=True)
    p = actions.add_parser("get", parents=[top], help="list groups")
    p.add_argument("names", nargs="*")
    p = actions.add_parser("delete", parents=[top], help="delete a group, or only some sellers from it")
    p.add_argument("name")
    p.add_argument("--nicks")
    groups.set_defaults(func=cmd_groups)

    p = sub.add_parser("top-gateway", help="run the local TOP gateway stand-in (development and tests)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8780)
    p.add_argument("--state", help="JSON file that keeps sync users and groups across restarts")
    p.add_argument("--sessions-file", help="JSON {session_key: seller_nick}; also $JUSHITA_TOP_GATEWAY_SESSIONS=nick=key,...")
    p.add_argument("--calls-per-window", type=int, default=0, help="throttle past this many calls per window (0: never)")
    p.add_argument("--window", type=float, default=60.0, help="throttle window in seconds")
    p.set_defaults(func=cmd_top_gateway)
