"""Exclusive file locks that say who holds them: the warehouse writer's and each consumer group's.

An ``flock`` is released by the kernel when its holder dies, so a crash never leaves a stale lock; the holder
also writes who it is (pid, what, since) into the file, so whoever is refused or waits can tell the operator.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO


def try_hold(path: Path, what: str) -> IO | None:
    """The open lock file, held, with this process recorded as its holder; None when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    except BaseException:
        lock.close()
        raise
    try:
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()} ({what}) since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        lock.flush()
    except OSError:  # a full disk must not stop the lock from working: the record is only for messages
        pass
    return lock


def holder(path: Path) -> str:
    """Who holds the lock at ``path``, as its holder wrote it."""
    try:
        return path.read_text().strip() or "another process"
    except OSError:
        return "another process"
