"""The landing subcommands: simulate (write a simulated feed) and land (replay files into the landing zone).

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import sys
import time
from pathlib import Path

from jushita_etl.cli.common import UserError, data_paths


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


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_simulate_land(sub, common)
