"""Simulated Jushita deliveries that look like the real feed (``jushita-messages.md``), written as replay NDJSON:
the business events of ``events.py``, rendered with the delivery effects of a real queue by ``lines.py``, drawn in
shards by processes of their own and merged here.

Everything is drawn from generators seeded by ``seed`` (one per shard, one for the sellers), and the number of
shards depends only on the feed's size, so a seed always gives the same file, on any machine.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import tempfile
from typing import IO

import numpy as np

from jushita_etl.simulate.events import FeedConfig, ShardEvents
from jushita_etl.simulate.lines import QUEUES, FeedStats, ShardLines


SHARD_MIN_ORDERS = 5_000  # feeds with at least twice this many orders are drawn in one shard per queue


def write_feed(out: IO[bytes], cfg: FeedConfig) -> FeedStats:
    """Simulate the feed described by ``cfg`` and write it to ``out`` as replay NDJSON (same bytes for a seed).

    Large feeds are drawn in one shard per queue, each in its own process with its own generator (the OS spreads
    them over the cores; their number never depends on the machine, so neither do the bytes). The parent merges them by
    arrival time without touching a line: the shards report arrival times and line lengths, get back the file
    offset of each of their lines, and write their lines there themselves (``os.pwrite``), in parallel.
    """
    shards = QUEUES if cfg.orders >= 2 * SHARD_MIN_ORDERS else 1
    if shards == 1:
        lines = _render_shard(cfg, 0, 1)
        out.write(b"".join(lines.lines))
        return lines.stats()
    if not _positional(out):  # a pipe or an append-mode file: merge into a temporary file, then copy
        with tempfile.TemporaryFile() as tmp:
            stats = write_feed(tmp, cfg)
            tmp.seek(0)
            shutil.copyfileobj(tmp, out, 1 << 22)
        return stats
    out.flush()
    base = out.tell()
    context = multiprocessing.get_context("fork")
    links = [context.Pipe() for _ in range(shards)]
    workers = [context.Process(target=_shard_worker, args=(cfg, k, shards, links[k][1], out.fileno()), daemon=True)
               for k in range(shards)]
    for worker in workers:
        worker.start()
    try:
        reports = [_receive(parent) for parent, _ in links]
        # Merge by arrival time; equal times keep shard order (a stable sort), so a seed always gives the same bytes.
        arrivals = np.concatenate([np.frombuffer(r[0], dtype=np.float64) for r in reports])
        lengths = np.concatenate([np.frombuffer(r[1], dtype=np.int64) for r in reports])
        order = np.argsort(arrivals, kind="stable")
        merged_lengths = lengths[order]
        offsets = np.empty_like(lengths)
        offsets[order] = base + np.cumsum(merged_lengths) - merged_lengths
        first = 0
        for (parent, _), report in zip(links, reports):
            count = len(report[1]) // 8
            parent.send_bytes(offsets[first:first + count].tobytes())
            first += count
        for parent, _ in links:
            _receive(parent)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
    out.seek(base + int(lengths.sum()))
    stats = FeedStats()
    for report in reports:
        stats = stats.plus(report[2])
    return stats


def _positional(out: IO[bytes]) -> bool:
    """Whether shards can write their lines into ``out`` at file offsets."""
    try:
        return out.seekable() and "a" not in getattr(out, "mode", "") and os.path.isfile(f"/proc/self/fd/{out.fileno()}")
    except (OSError, ValueError, AttributeError):
        return False


def _receive(conn):
    message = conn.recv()
    if isinstance(message, BaseException):
        raise RuntimeError(f"simulator shard failed: {message}") from message
    return message


def _shard_worker(cfg: FeedConfig, shard: int, shards: int, conn, fd: int) -> None:
    """In a forked process: render one shard, report arrival times and line lengths, write each line at the
    offset the parent sends back (one ``pwrite`` per run of lines that are adjacent in the file)."""
    try:
        lines = _render_shard(cfg, shard, shards)
        lengths = np.fromiter(map(len, lines.lines), dtype=np.int64, count=len(lines.lines))
        conn.send((np.array(lines.arrivals, dtype=np.float64).tobytes(), lengths.tobytes(), lines.stats()))
        offsets = np.frombuffer(conn.recv_bytes(), dtype=np.int64)
        if len(offsets):
            breaks = np.flatnonzero(offsets[1:] != offsets[:-1] + lengths[:-1]) + 1
            starts = [0, *breaks.tolist()]
            stops = [*breaks.tolist(), len(offsets)]
            rendered, position = lines.lines, offsets[starts].tolist()
            for lo, hi, at in zip(starts, stops, position):
                os.pwrite(fd, b"".join(rendered[lo:hi]) if hi - lo > 1 else rendered[lo], at)
        conn.send(True)
    except BaseException as exc:  # reported to the parent, which raises it there
        conn.send(RuntimeError(f"{type(exc).__name__}: {exc}"))


def _render_shard(cfg: FeedConfig, shard: int, shards: int) -> ShardLines:
    # Millions of small dicts and no reference cycles: the cyclic collector would rescan them all, again and again.
    gc.disable()
    try:
        feed = ShardEvents(cfg, shard, shards)
        feed.build()
        lines = ShardLines(feed)
        lines.render()
        return lines
    finally:
        gc.enable()
