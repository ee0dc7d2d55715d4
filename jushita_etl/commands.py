"""Subcommands beyond simulate/land: build, demo, consume, broker, publish, users, groups, top-gateway."""

import sys

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
