"""The Dagster code location of jushita-etl: everything under ``jushita_etl/defs/``, loaded by folder."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs")
