"""Reading the landing manifest, and the directory fsync its writers use: plain files and orjson, no Arrow, so
``jushita-etl build`` can start its parse before pyarrow (and numpy) are imported (about 0.1 s of its start)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def manifest_path(landing_dir: Path) -> Path:
    """The landing zone's manifest: one JSON line per committed batch, only ever appended to."""
    return Path(landing_dir) / "manifest.jsonl"


def manifest_size(landing_dir: Path) -> int:
    """The manifest's length in bytes (0 before the first batch): it grows with every batch landed."""
    try:
        return manifest_path(landing_dir).stat().st_size
    except FileNotFoundError:
        return 0


def read_manifest(landing_dir: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Manifest entries appended after byte ``offset``, and the new offset. Only complete lines count."""
    manifest = manifest_path(landing_dir)
    if not manifest.exists():
        return [], 0
    with open(manifest, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    entries = [orjson.loads(line) for line in data[:end].splitlines() if line.strip()]
    return entries, offset + end
