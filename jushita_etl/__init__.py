"""jushita-etl: the Jushita message-sync stream, landed durably and folded into a DuckLake lakehouse.

Imported on use: ``connect``'s DuckDB, as every process imports this package (the consumer too) and most never
need it."""

from __future__ import annotations

import os

__version__ = "0.1.0"


def connect(data_dir: str | os.PathLike | None = None):
    """A read-only DuckDB connection to the last published build, every contract table visible unqualified.

    ``data_dir`` defaults to ``$JUSHITA_DATA_DIR``, else ``./data``; ``JUSHITA_CATALOG`` / ``JUSHITA_LAKE_PATH``
    point it at a shared catalog and data path instead. Reconnect to see a newer build."""
    from jushita_etl.settings import paths
    from jushita_etl.warehouse.lake import reader

    return reader(paths(data_dir))
