"""Resources shared by every domain: the warehouse (landing zone in, DuckDB out)."""


from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from jushita_etl import settings
from jushita_etl.warehouse import db

WAREHOUSE_POOL = "warehouse_writer"
"""Concurrency pool of every asset that writes the build database: one writer at a time (dagster.yaml)."""


class WarehouseResource(dg.ConfigurableResource):
    """The data directory: ``landing/`` in, private ``build/`` database, published ``warehouse.duckdb`` out."""

    data_dir: str

    @property
    def paths(self) -> settings.Paths:
        return settings.paths(self.data_dir)

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with db.writer(self.paths) as conn:
            yield conn


@dg.definitions
def resources() -> dg.Definitions:
    # Read when the code location loads, so `jushita-etl --data-dir` and $JUSHITA_DATA_DIR both reach Dagster
    # without putting a path into run config.
    return dg.Definitions(resources={"warehouse": WarehouseResource(data_dir=str(settings.data_dir()))})
