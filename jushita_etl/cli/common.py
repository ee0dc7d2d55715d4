"""What every subcommand shares: the one-line user error, the settings it reads, the data directory, JSON lines.

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

from __future__ import annotations

import os
import sys


class UserError(Exception):
    """An error whose message is meant for the user as is: one line, no traceback."""


def env(name: str, default=None):
    return os.environ.get(name, default)


def data_paths(args):
    """The data directory's paths: ``--data-dir``, else $JUSHITA_DATA_DIR, else ./data."""
    from jushita_etl.settings import paths

    return paths(args.data_dir)


def write_json_lines(records) -> None:
    """One JSON object per line on stdout, for downstream jobs (ids exact, times and decimals as text)."""
    import orjson

    for record in records:
        sys.stdout.buffer.write(orjson.dumps(record, default=str) + b"\n")

