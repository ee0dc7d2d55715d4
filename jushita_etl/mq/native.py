"""The project's two small C libraries for the client (``landing_callback.c``, ``client_mktime.c``): each is
compiled with the system C compiler next to its source (``make install`` does it ahead; otherwise on first use)
and loaded with ctypes. Callers fall back to plain Python when there is no compiler."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ("landing_callback", "client_mktime")


class NativeUnavailable(RuntimeError):
    pass


def library_path(stem: str) -> Path:
    return HERE / f"_{stem}.so"


def _up_to_date(source: Path, library: Path) -> bool:
    return library.exists() and library.stat().st_mtime >= source.stat().st_mtime


def build(stem: str, *, library: Path | None = None, force: bool = False) -> Path:
    """Compile ``<stem>.c`` into ``library`` (default ``_<stem>.so`` beside it) when that is missing or older
    than the source. A lock file keeps concurrent processes from compiling over each other; the result appears
    atomically (rename)."""
    source = HERE / f"{stem}.c"
    library = library or library_path(stem)
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


if __name__ == "__main__":  # `python -m jushita_etl.mq.native`: build ahead (make install does)
    for stem in SOURCES:
        try:
            print(f"built {build(stem, force='--force' in sys.argv)}")
        except NativeUnavailable as exc:
            print(f"note: {exc}; the client runs without it (slower, same results)")
