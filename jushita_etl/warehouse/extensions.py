"""DuckDB connections for the lakehouse: the extensions it needs (``ducklake``, a catalog scanner, ``httpfs``
for S3-compatible storage) loaded from the files of the pinned ``duckdb-extension-*`` wheels. Nothing is downloaded
at run time, a connection never looks at an extension directory, and autoloading stays off."""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

import duckdb

from jushita_etl.settings import LakeSettings
from jushita_etl.warehouse import sql


class LakeUnavailable(RuntimeError):
    """The catalog or the data path could not be opened: the message names the setting and what failed."""


@cache
def extension_file(name: str) -> str:
    """The extension binary that the ``duckdb-extension-<name>`` wheel installed."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise LakeUnavailable(f"the DuckDB extension {name} is not installed (pip package duckdb-extension-"
                              f"{name.replace('_', '-')}); run `make install`")
    found = sorted(Path(spec.submodule_search_locations[0]).rglob("*.duckdb_extension"))
    if not found:
        raise LakeUnavailable(f"the wheel duckdb-extension-{name.replace('_', '-')} holds no extension binary")
    return str(found[0])


def _needed_extensions(settings: LakeSettings) -> list[str]:
    needed = ["ducklake"]
    if settings.catalog_kind == "sqlite":
        needed.append("sqlite_scanner")
    elif settings.catalog_kind == "postgres":
        needed.append("postgres_scanner")
    if settings.on_s3:
        needed.append("httpfs")
    return needed


_SIGNATURES_CHECKED: set[tuple] = set()
"""The extension files whose signatures DuckDB checked in this process, by identity (``_file_identity``)."""


def _file_identity(path: str) -> tuple:
    """What changes when a file's bytes do: its inode, size and change time (which no one but the clock sets)."""
    stat = os.stat(path)
    return path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def connection(settings: LakeSettings, spill_dir: Path | None = None, *, internal: bool = False
               ) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with what the lakehouse needs loaded (not attached yet).

    DuckDB checks an extension's signature by hashing the whole binary (36 MB for ducklake, 35 MB for
    sqlite_scanner), 0.1-0.2 s per extension and connection. An analyst's connection (``reader``) has the files
    checked on the first connection of its process; later ones load the same files, unchanged since (same inode,
    size and change time), without the check: a dashboard that connects per query pays it once.

    ``internal``: a connection of the pipeline's own (the writer, the planner), on which no one types SQL, loads
    the files without the check, most of a build with nothing to do otherwise. The files are the pinned wheels' in
    this environment's site-packages, next to DuckDB's own (unchecked) library: whoever can replace them can
    replace that too. On every connection only those files are loaded (autoloading stays off)."""
    files = [extension_file(name) for name in _needed_extensions(settings)]
    identities = [_file_identity(file) for file in files]
    skip_check = internal or _SIGNATURES_CHECKED.issuperset(identities)
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if skip_check:
        config["allow_unsigned_extensions"] = True
    if spill_dir is not None:
        spill_dir.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(spill_dir)
    conn = duckdb.connect(config=config)
    try:
        for file in files:
            conn.execute(f"LOAD {sql.literal(file)}")  # LOAD takes no bound parameters
        if not skip_check:  # DuckDB checked them: loaded without an error
            _SIGNATURES_CHECKED.update(identities)
        conn.execute("SET TimeZone = 'UTC'")  # timestamps are naive China wall-clock; no session zone may shift them
        if settings.on_s3:
            _s3_secret(conn, settings)
    except BaseException:
        conn.close()
        raise
    return conn


def _s3_secret(conn: duckdb.DuckDBPyConnection, settings: LakeSettings) -> None:
    """The S3-compatible store's secret, from the standard AWS_* variables (read here, passed to DuckDB only)."""
    options = {"KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""), "SECRET": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
               "REGION": os.environ.get("AWS_REGION", "us-east-1"), "URL_STYLE": settings.s3_url_style,
               "USE_SSL": "true" if settings.s3_use_ssl else "false"}
    if settings.s3_endpoint:
        options["ENDPOINT"] = settings.s3_endpoint
    body = ", ".join(f"{key} {sql.literal(value)}" for key, value in options.items())
    conn.execute(f"CREATE OR REPLACE SECRET jushita_s3 (TYPE s3, {body})")
