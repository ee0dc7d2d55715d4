"""The operator's subcommands: status (what needs a person) and unreadable (landed batches set aside).

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

from jushita_etl.cli.common import UserError, data_paths, write_json_lines


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


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_status(sub, common)
    _register_unreadable(sub, common)
