"""One line for the operator when the machine, not the input, fails a command: a full disk, a read-only or
forbidden directory, a lake file that is gone or damaged. The CLI and the build's run failures say these instead
of an exception's text; docs/runbook.md says what to do about each."""

from __future__ import annotations

import errno
import os
import re

REBUILD = "the landing zone still holds everything: `jushita-etl rebuild` rebuilds the warehouse from it"

_QUOTED_PATH = re.compile(r"[\"'](?P<path>(?:/|s3://|[A-Za-z]:\\)[^\"']+)[\"']")
_TRAILING_PATH = re.compile(r": (?P<path>/\S+)$")
_LAKE_FILE = re.compile(r"ducklake-[0-9a-f-]+\.parquet")

_BY_ERRNO = {
    errno.ENOSPC: "no space left on {where}",
    errno.EDQUOT: "no space left on {where} (disk quota)",
    errno.EROFS: "read-only file system: cannot write {where}",
    errno.EACCES: "permission denied on {where}",
    errno.EPERM: "permission denied on {where}",
}
_BY_TEXT = [
    (re.compile(r"No space left on device|database or disk is full", re.I), _BY_ERRNO[errno.ENOSPC]),
    (re.compile(r"Disk quota exceeded", re.I), _BY_ERRNO[errno.EDQUOT]),
    (re.compile(r"Read-only file system|attempt to write a readonly database", re.I), _BY_ERRNO[errno.EROFS]),
    (re.compile(r"Permission denied", re.I), _BY_ERRNO[errno.EACCES]),
]
_LAKE_DAMAGE = [
    (re.compile(r"No such file or directory|No files found", re.I), "a lake data file is missing: {where}"),
    (re.compile(r"No magic bytes|too small to be a Parquet file|Corrupt|Invalid Input Error", re.I),
     "a lake data file is damaged: {where}"),
]


def _where(error: BaseException | str, text: str) -> str | None:
    filename = getattr(error, "filename", None)
    if filename:
        return os.fspath(filename)
    match = _QUOTED_PATH.search(text) or _TRAILING_PATH.search(text)
    return match.group("path") if match else None


def explain(error: BaseException | str, fallback: os.PathLike | str | None = None) -> str | None:
    """The operator's line for ``error`` (an exception, or a failed run's error text), or None when it is not a
    fault of the machine. ``fallback``: the directory to name when the error names no file."""
    text = str(error)
    where = _where(error, text) or (os.fspath(fallback) if fallback is not None else "the data directory")
    if where and _LAKE_FILE.search(where):
        for pattern, line in _LAKE_DAMAGE:
            if pattern.search(text):
                return f"{line.format(where=where)}; {REBUILD}"
    if isinstance(error, OSError) and error.errno in _BY_ERRNO:
        return _BY_ERRNO[error.errno].format(where=where)
    for pattern, line in _BY_TEXT:
        if pattern.search(text):
            return line.format(where=where)
    return None
