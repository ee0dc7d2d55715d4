"""Landing into the lake: the catalog's registry of landed batches (``etl.landed_batches``).

Each machine lands into its own landing zone (the consumer's write-ahead log on local disk, fsynced before a
message is acknowledged, compacted into Parquet batches listed in the local manifest). ``ship`` then makes those
batches the lake's: it registers each batch in the catalog, so a build anywhere reads exactly the batches the catalog
lists, and no file is shared between machines but the catalog and the data path.

* **Embedded lake** (the default settings): the batch stays where it landed and its local path is registered.
* **Shared lake** (``JUSHITA_CATALOG`` or ``JUSHITA_LAKE_PATH`` set): the batch is first copied to
  ``<lake data path>/landing/<batch_id>.parquet`` (a local or mounted directory: written, fsynced, renamed; S3:
  written by DuckDB), then registered. A crash between the two copies it again; registering is idempotent.

``ship`` runs where batches land (``jushita-etl land``, the consumer while it runs and when it stops) and at the
start of every ingest, which also covers batches a crashed consumer left unshipped once they are recovered.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson

from jushita_etl.landing.manifest import fsync_dir, manifest_size, read_manifest
from jushita_etl.settings import LakeSettings, Paths, lake
from jushita_etl.warehouse import db, sql


def ship(conn: duckdb.DuckDBPyConnection, paths: Paths, settings: LakeSettings | None = None) -> int:
    """Register the local manifest's batches that the catalog does not list yet (copying them to the lake first
    when it is shared). Returns how many. ``conn``: a connection with the lake attached as the default catalog."""
    settings = settings or lake(paths)
    pending = _pending(conn, paths.landing)
    new = pending.unshipped
    if not new:
        return 0
    try:
        conn.execute("SELECT 1 FROM etl.landed_batches LIMIT 0")
    except duckdb.CatalogException:  # a new catalog: only then DDL, which concurrent shippers would conflict on
        sql.run(conn, "internal/landed_batches")
    files = [_place(conn, paths.landing / e["file"], e["batch_id"], settings, paths) for e in new]
    with db.transaction(conn):
        conn.execute(
            "INSERT INTO etl.landed_batches SELECT unnest($ids), unnest($files), unnest($rows), "
            "unnest($dates), now()::TIMESTAMP",
            {"ids": [e["batch_id"] for e in new], "files": files, "rows": [e["rows"] for e in new],
             "dates": [list(e.get("event_dates", [])) for e in new]})
    _move_mark(paths.landing, pending)
    return len(new)


def _place(conn: duckdb.DuckDBPyConnection, source: Path, batch_id: str, settings: LakeSettings, paths: Paths) -> str:
    """The batch's registered location: where it landed (embedded lake) or its copy in the lake (shared)."""
    if not settings.shared:
        return str(source.resolve())
    target = settings.batch_location(paths) + f"{batch_id}.parquet"
    if settings.on_s3:  # COPY takes no bound parameters: both paths are escaped literals
        conn.execute(f"COPY (FROM read_parquet({sql.literal(str(source))})) TO {sql.literal(target)} (FORMAT parquet)")
        return target
    directory = Path(target).parent
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{batch_id}.parquet.{os.getpid()}.tmp"
    with open(source, "rb") as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    fsync_dir(directory)
    return target


SHIP_ATTEMPTS = 5


def ship_once(paths: Paths) -> int:
    """``ship`` on a connection of its own (a landing process, not the build's writer, so no lock). Registrations
    from several machines are separate catalog transactions; one that conflicts with another's commit (two
    consumers creating a new catalog's registry, say) is tried again on a fresh connection, which sees the other's
    work: registering is idempotent."""
    for attempt in range(SHIP_ATTEMPTS):
        conn = db.open_writer_connection(paths)
        try:
            return ship(conn, paths)
        except duckdb.TransactionException:
            if attempt == SHIP_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        finally:
            conn.close()
    return 0


SHIPPED_MARK = "shipped.json"
"""In the landing directory: how far its manifest is known to be registered in the catalog, so that ``unshipped``
reads and looks up only the lines after that. A consumer that runs for weeks lands a batch every few seconds; read
whole, the manifest made every build and every sensor tick cost 1.3 s per 100k batches landed."""


@dataclass(frozen=True)
class _Pending:
    """The manifest's entries after the shipped mark whose files are here (``read``) and those the catalog does not
    list (``unshipped``), and the manifest offset they were read up to."""

    read: list[dict]
    unshipped: list[dict]
    end: int


def unshipped(conn: duckdb.DuckDBPyConnection, landing: Path) -> list[dict]:
    """The local manifest's entries that the catalog does not list yet."""
    return _pending(conn, landing).unshipped


def _pending(conn: duckdb.DuckDBPyConnection, landing: Path, *, from_mark: bool = True) -> _Pending:
    """The entries after the shipped mark (every entry with ``from_mark`` False) and which of them the catalog lacks.
    The mark is only taken when the catalog lists its last batch: a new catalog (``jushita-etl rebuild``, another
    ``JUSHITA_CATALOG``) is asked about every entry again. When it lacks none, the mark moves to the end."""
    mark = _read_mark(landing) if from_mark else None
    entries, end = read_manifest(landing, mark["offset"] if mark else 0)
    entries = [e for e in entries if (landing / e["file"]).exists()]
    asked = [e["batch_id"] for e in entries] + ([mark["last"]] if mark else [])
    if not asked:
        return _Pending([], [], end)
    # The ids as one escaped string literal, not a bound parameter: DuckDB 1.5 imports pandas (0.35-0.8 s) the first
    # time a process binds any parameter, and a build with nothing to do asks only this and parameterless queries.
    ids = sql.literal(" ".join(asked))
    try:
        known = {row[0] for row in conn.execute(
            f"SELECT batch_id FROM etl.landed_batches WHERE batch_id IN (SELECT unnest(string_split({ids}, ' ')))"
        ).fetchall()}
    except duckdb.CatalogException:  # a catalog no writer has prepared yet
        known = set()
    if mark and mark["last"] not in known:
        return _pending(conn, landing, from_mark=False)
    pending = _Pending(entries, [e for e in entries if e["batch_id"] not in known], end)
    if entries and not pending.unshipped:
        _move_mark(landing, pending)
    return pending


def _read_mark(landing: Path) -> dict | None:
    """The shipped mark, or None when there is none or it cannot hold (the manifest is shorter than its offset)."""
    try:
        mark = orjson.loads((landing / SHIPPED_MARK).read_bytes())
        if mark["offset"] <= manifest_size(landing) and mark["last"]:
            return mark
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _move_mark(landing: Path, pending: _Pending) -> None:
    """Every entry up to ``pending.end`` is registered: the mark moves there. Written whole and renamed; a lost or
    stale mark only costs reading more of the manifest, so it is not fsynced, and a failure to write it is ignored."""
    partial = landing / f".{SHIPPED_MARK}.{os.getpid()}.tmp"
    try:
        partial.write_bytes(orjson.dumps({"offset": pending.end, "last": pending.read[-1]["batch_id"]}))
        os.replace(partial, landing / SHIPPED_MARK)
    except OSError:
        partial.unlink(missing_ok=True)


class Shipper:
    """Ships a landing process's batches to a shared lake while it runs (``tick``, e.g. a consumer's progress
    callback, at most every ``every`` seconds) and when it stops (``final``). With the embedded lake it does
    nothing: the build ships the local batches itself. A failure (the catalog unreachable, say) never stops
    landing: the batches stay durable on local disk and the next tick ships them; ``final`` reports it."""

    def __init__(self, paths: Paths, every: float = 5.0):
        self.paths, self.every = paths, every
        self.enabled = lake(paths).shared
        self.shipped, self.error = 0, None
        self._last = 0.0

    def tick(self, *_) -> None:
        now = time.monotonic()
        if self.enabled and now - self._last >= self.every:
            self._last = now
            self._ship()

    def final(self) -> None:
        if self.enabled:
            self._ship()
            if self.error is not None:
                raise RuntimeError(f"landed batches could not be shipped to the lake ({lake(self.paths).describe()}): "
                                   f"{self.error}; they stay in {self.paths.landing} and ship on the next run")

    def _ship(self) -> None:
        try:
            self.shipped += ship_once(self.paths)
            self.error = None
        except Exception as exc:  # noqa: BLE001 - reported by final(); landing goes on
            self.error = str(exc).strip().splitlines()[0]
