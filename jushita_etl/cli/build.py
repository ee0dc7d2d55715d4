"""The build subcommands: build (fold what is landed into the lakehouse) and rebuild (a new lake from the landing
zone).

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import sys

from jushita_etl.cli.common import UserError, data_paths


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
    from jushita_etl.warehouse.db import QueuedByAnOlderVersion, WarehouseBusy

    try:
        report = run_build(paths, full=args.full, verbose=args.verbose, wait=args.wait)
    except (BuildFailed, WarehouseBusy, QueuedByAnOlderVersion) as exc:
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


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_build(sub, common)
    _register_rebuild(sub, common)
