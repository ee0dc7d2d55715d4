"""The ``jushita-etl`` command: the parser, and the one place that turns failures into one line. The subcommands
live by domain: land, build, sql, status, demo, mq, top, ui.

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

from __future__ import annotations

import argparse
import gc
import os
import select
import signal
import sys
import warnings

from jushita_etl.cli import build, demo, land, mq, sql, status, top, ui
from jushita_etl.cli.common import UserError


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

    for module in (land, build, sql, status, demo, mq, top, ui):
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
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
    # Servers and consumers stop on SIGTERM even when started by a process that ignores it: Dagster, for one, sets
    # SIGTERM to SIGINT's disposition, which is "ignore" in anything launched in the background by a shell.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # SIGPIPE stays ignored, as Python sets it: a server that writes to a connection whose peer was just killed
    # must get that connection's error, not die (the dev broker did). A closed stdout is handled below.
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"jushita-etl: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError as exc:
        if not _stdout_reader_gone():
            return _one_line(exc, args)
        # `jushita-etl sql ... | head`: the reader has what it wanted. End as a process killed by SIGPIPE reports
        # it, without the traceback of Python's own flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into one line
        return _one_line(exc, args)


def _one_line(exc: Exception, args) -> int:
    if args.debug:
        raise exc
    from jushita_etl.diagnosis import explain

    line = explain(exc, getattr(args, "data_dir", None))
    print(f"jushita-etl: {line or f'{type(exc).__name__}: {exc} (run with --debug for details)'}", file=sys.stderr)
    return 1


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe nobody reads any more (poll reports an error on such a pipe's write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def run() -> None:
    """The ``jushita-etl`` console script and ``python -m jushita_etl.cli``: ``main``, then exit."""
    code = main()
    # The process ends here. Freezing the collector's generations keeps interpreter shutdown from walking the whole
    # object graph a Dagster run leaves behind: 0.6-0.7 s of every build, measured. Exit handlers still run, threads
    # are still joined; only the final collection skips these objects.
    gc.freeze()
    sys.exit(code)
