"""The analysts' subcommands on the last published build: sql (a query or a session) and alerts.

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import sys

from jushita_etl.cli.common import UserError, data_paths, write_json_lines


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


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_sql(sub, common)
    _register_alerts(sub, common)
