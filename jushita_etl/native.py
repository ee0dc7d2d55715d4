"""The project's small C libraries, each compiled with the system C compiler next to its source (``make install``
does it ahead; otherwise on first use) and loaded with ctypes: the landing log's segment reader
(``landing/segment.c``), the consumer's native landing callback (``mq/landing_callback.c``) and the producer's
mktime fix (``mq/client_mktime.c``). Callers fall back to plain Python when there is no compiler.

A leaf: it imports nothing of the project, so ``landing/`` and ``mq/`` both build with it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SOURCES = (PACKAGE / "landing" / "segment.c", PACKAGE / "mq" / "landing_callback.c", PACKAGE / "mq" / "client_mktime.c")
HEADERS = (PACKAGE / "landing" / "crc32.h",)  # included by the sources above; a change rebuilds them all


class NativeUnavailable(RuntimeError):
    pass


def library_path(source: Path) -> Path:
    """Where ``source`` is built: ``_<stem>.so`` beside it."""
    return source.with_name(f"_{source.stem}.so")


def _up_to_date(source: Path, library: Path) -> bool:
    return library.exists() and all(library.stat().st_mtime >= f.stat().st_mtime for f in (source, *HEADERS))


def build(source: Path, *, library: Path | None = None, force: bool = False) -> Path:
    """Compile ``source`` into ``library`` (default ``library_path(source)``) when that is missing or older than
    the source. A lock file keeps concurrent processes from compiling over each other; the result appears
    atomically (rename)."""
    library = library or library_path(source)
    if not force and _up_to_date(source, library):
        return library
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise NativeUnavailable(f"no C compiler (cc or gcc) to build {source.name}")
    with open(library.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _up_to_date(source, library):  # another process built it while this one waited
            return library
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        result = subprocess.run([compiler, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(partial), str(source),
                                 "-lpthread", "-ldl"], capture_output=True, text=True)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise NativeUnavailable(f"building {source.name} failed: {result.stderr.strip()[-400:]}")
        os.replace(partial, library)
    return library


if __name__ == "__main__":  # `python -m jushita_etl.native`: build ahead (make install does)
    for source in SOURCES:
        try:
            print(f"built {build(source, force='--force' in sys.argv)}")
        except NativeUnavailable as exc:
            print(f"note: {exc}; running without it (slower, same results)")
