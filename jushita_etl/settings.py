"""Where things live. The single place that reads path settings from the environment.

Every command also takes ``--data-dir``; it wins over ``JUSHITA_DATA_DIR``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import timedelta
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
    def lake_dir(self) -> Path:
        """The embedded lakehouse: the SQLite catalog and, unless ``JUSHITA_LAKE_PATH`` says otherwise, its data files."""
        return self.data_dir / "lake"

    @property
    def build_dir(self) -> Path:
        """Private to the pipeline: the writer's lock and DuckDB's spill space."""
        return self.data_dir / "build"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    raw = override or os.environ.get("JUSHITA_DATA_DIR") or "data"
    return Path(raw).expanduser().absolute()


def paths(override: str | os.PathLike | None = None) -> Paths:
    return Paths(data_dir(override))


@dataclass(frozen=True)
class LakeSettings:
    """Where the DuckLake lakehouse lives: its catalog (a DuckLake metadata string, ``sqlite:<file>`` or
    ``postgres:<libpq connection string>``) and its data path (a directory or ``s3://bucket/prefix/``), plus the
    S3-compatible endpoint settings. Credentials are not held here: DuckDB's S3 secret reads the standard
    ``AWS_*`` variables itself (``CREDENTIAL_CHAIN``), so they never pass through this code."""

    catalog: str
    data_path: str
    shared: bool = False  # the catalog or data path was set: other machines may land into this lake
    s3_endpoint: str = ""
    s3_url_style: str = "vhost"
    s3_use_ssl: bool = True

    @property
    def catalog_kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    @property
    def sqlite_file(self) -> Path | None:
        """The catalog's file when it is a SQLite catalog (the embedded default), else None."""
        return Path(self.catalog.split(":", 1)[1]) if self.catalog_kind == "sqlite" else None

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    def batch_location(self, paths_: Paths) -> str:
        """Where landed batches are read from (warehouse/landed.py): the local landing zone, or the lake's
        ``landing/`` prefix when the lake is shared. A directory or prefix, ending in a slash."""
        if self.shared:
            return self.data_path + "landing/"
        return str(paths_.landing.resolve() / "batches") + "/"

    def describe(self) -> str:
        """The catalog and data path for messages, without a password the connection string may carry."""
        return f"catalog {redact(self.catalog)}, data path {self.data_path}"


def redact(text: str) -> str:
    """``text`` with the value of every ``password=`` of a connection string masked (catalog strings, and the
    errors that quote them)."""
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


def lake(paths_: Paths) -> LakeSettings:
    """The lakehouse settings: ``JUSHITA_CATALOG``, ``JUSHITA_LAKE_PATH``, ``JUSHITA_S3_*``; by default a SQLite
    catalog and a data directory under the data directory's ``lake/``."""
    env = os.environ.get
    data_path = env("JUSHITA_LAKE_PATH") or str(paths_.lake_dir / "data")
    if not data_path.endswith("/"):
        data_path += "/"
    return LakeSettings(
        catalog=env("JUSHITA_CATALOG") or f"sqlite:{paths_.lake_dir / 'catalog.sqlite'}",
        data_path=data_path,
        shared=bool(env("JUSHITA_CATALOG") or env("JUSHITA_LAKE_PATH")),
        s3_endpoint=env("JUSHITA_S3_ENDPOINT", ""),
        s3_url_style=env("JUSHITA_S3_URL_STYLE", "vhost"),
        s3_use_ssl=env("JUSHITA_S3_USE_SSL", "true").lower() not in ("0", "false", "no"),
    )


def retention(setting: str, default_days: float) -> timedelta:
    """The retention a setting holds, in days (fractions allowed; ``default_days`` when unset or empty). A value that
    is not a number of days, or is negative, is refused with the setting's name (``ValueError``): a retention read
    wrong would delete what it should keep."""
    value = os.environ.get(setting, "").strip()
    try:
        days = float(value) if value else default_days
    except ValueError:
        raise ValueError(f"{setting} must be a number of days, not {value!r}") from None
    if not math.isfinite(days):
        raise ValueError(f"{setting} must be a number of days, not {value!r}")
    if days < 0:
        raise ValueError(f"{setting} must not be negative, not {value!r}")
    return timedelta(days=days)


def partition_start() -> str:
    """First daily partition (Asia/Shanghai). Events before it are still stored, see docs/warehouse.md."""
    return os.environ.get("JUSHITA_PARTITION_START", DEFAULT_PARTITION_START)
