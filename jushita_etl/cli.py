"""The ``jushita-etl`` command. Each subcommand imports what it needs, so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import time
import warnings
from pathlib import Path


class UserError(Exception):
    """An error whose message is meant for the user as is: one line, no traceback."""


def _env(name: str, default=None):
    return os.environ.get(name, default)


def _paths(args):
    from jushita_etl.settings import paths

    return paths(args.data_dir)


# --- simulate / land -------------------------------------------------------------------------------------

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


def land_files(files: list[str], landing_dir: Path, *, quiet: bool = False, fsync: bool = True, **flush):
    from jushita_etl.landing.replay import land_replay
    from jushita_etl.landing.writer import LandingWriter, use_system_allocator

    use_system_allocator()
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise UserError(f"no such replay file: {name}")
    writer = LandingWriter(landing_dir, fsync=fsync, background=True, **flush)
    try:
        report = land_replay(files, writer, on_bad=None if quiet else lambda bad: print(f"skipped {bad.where}: {bad.reason}", file=sys.stderr))
    finally:
        writer.close()
    return writer.stats, report


def cmd_land(args) -> int:
    flush = {"flush_rows": args.flush_rows, "flush_bytes": args.flush_mb << 20, "flush_seconds": args.flush_seconds}
    paths = _paths(args)
    stats, report = land_files(args.files, paths.landing, **flush)
    print(f"landed {stats.deliveries:,} deliveries in {stats.batches} batch(es), {stats.body_bytes / 1e6:,.1f} MB of bodies, "
          f"{stats.seconds:.2f}s ({stats.deliveries / max(stats.seconds, 1e-9):,.0f}/s); {len(report.bad)} bad line(s) skipped")
    from jushita_etl.warehouse.landed import Shipper

    try:
        Shipper(paths).final()  # a shared lake: the batches are registered in its catalog
    except RuntimeError as exc:
        raise UserError(str(exc)) from None
    return 0


# --- parser ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jushita-etl",
        description="Land the Jushita message-sync stream durably and fold it into a DuckDB warehouse.",
        epilog="Start with `jushita-etl demo`. Data lives in --data-dir (default $JUSHITA_DATA_DIR or ./data).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=None, help="data directory (default $JUSHITA_DATA_DIR or ./data)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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

    for register in _REGISTRARS:
        register(sub, common)
    return parser


_REGISTRARS: list = []


def subcommand(register):
    _REGISTRARS.append(register)
    return register


def main(argv: list[str] | None = None) -> int:
    # Importing the optional command modules registers their subcommands.
    from jushita_etl import commands  # noqa: F401

    # Dagster flags one of its own internal parameters as beta when sensors are built; not actionable here.
    warnings.filterwarnings("ignore", message=r"Parameter `owners`")
    # The raw_messages freshness check is built with Dagster's freshness-check builders, which Dagster now marks
    # superseded by freshness policies; the check still runs, and the warning says nothing to a user of the CLI.
    warnings.filterwarnings("ignore", message=r"Function `build_(last_update_freshness_checks|sensor_for_freshness)")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Servers and consumers stop on SIGTERM even when started by a process that ignores it: Dagster, for one, sets
    # SIGTERM to SIGINT's disposition, which is "ignore" in anything launched in the background by a shell.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"jushita-etl: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into one line
        if args.debug:
            raise
        from jushita_etl.diagnosis import explain

        line = explain(exc, getattr(args, "data_dir", None))
        print(f"jushita-etl: {line or f'{type(exc).__name__}: {exc} (run with --debug for details)'}", file=sys.stderr)
        return 1


def run() -> None:
    """The ``jushita-etl`` console script and ``python -m jushita_etl.cli``: ``main``, then exit."""
    code = main()
    # The process ends here. Freezing the collector's generations keeps interpreter shutdown from walking the whole
    # object graph a Dagster run leaves behind: 0.6-0.7 s of every build, measured. Exit handlers still run, threads
    # are still joined; only the final collection skips these objects.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # `python -m jushita_etl.cli`: run the imported module, where subcommands register
    from jushita_etl import cli

    cli.run()
