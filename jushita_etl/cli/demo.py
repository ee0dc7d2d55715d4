"""``jushita-etl demo``: the whole product end to end on a simulated feed (the steps are in ``jushita_etl.demo``).

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import time

from jushita_etl.cli.build import print_build_report
from jushita_etl.cli.common import data_paths


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
        from jushita_etl.mq.settings import MQSettings

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
    _register_demo(sub, common)
