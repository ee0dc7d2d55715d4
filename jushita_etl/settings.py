"""Where things live. The single place that reads path settings from the environment.

Every command also takes ``--data-dir``; it wins over ``JUSHITA_DATA_DIR``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SHANGHAI = "Asia/Shanghai"
DEFAULT_PARTITION_START = "2026-01-01"


@dataclass(frozen=True)
class Paths:
    """The layout of one data directory."""

    data_dir: Path

    @property
    def landing(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse(self) -> Path:
        """The file analysts open (read-only); replaced atomically after every build."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def build_dir(self) -> Path:
        """Private to the pipeline: the writable build database and its lock."""
        return self.data_dir / "build"

    @property
    def build_db(self) -> Path:
        return self.build_dir / "warehouse-build.duckdb"

    @property
    def parsed_db(self) -> Path:
        """The parsed deliveries (``parsed.deliveries``), attached to the build database's writer and never published:
        a parse of the landing zone, which only the pipeline reads."""
        return self.build_dir / "parsed-deliveries.duckdb"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    raw = override or os.environ.get("JUSHITA_DATA_DIR") or "data"
    return Path(raw).expanduser().absolute()


def paths(override: str | os.PathLike | None = None) -> Paths:
    return Paths(data_dir(override))


def partition_start() -> str:
    """First daily partition (Asia/Shanghai). Events before it are still stored, see docs/warehouse.md."""
    return os.environ.get("JUSHITA_PARTITION_START", DEFAULT_PARTITION_START)
