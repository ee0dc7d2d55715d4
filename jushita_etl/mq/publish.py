"""Publish a replay file through the real producer: tags = the envelope topic unless the line has tags,
body bytes preserved, the line's msg_id kept as the message id.

Messages go out in synchronous batches (one request stores up to ``MAX_BATCH`` messages), sized so that even a
small file spreads over several requests and therefore over the topic's queues, as single sends would."""

from __future__ import annotations

import mmap
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from jushita_etl.landing.replay import mapped_blocks, parse_block
from jushita_etl.mq.source import MQProducer, OutgoingMessage

MAX_BATCH = 128
MAX_BATCH_BYTES = 1 << 20  # far below the client's 4 MB message limit
SPREAD = 8  # a block is sent in at least this many requests (the client picks the next queue per request)
_TOPIC = re.compile(rb'"topic"\s*:\s*"([^"\\]+)"')


@dataclass
class PublishReport:
    sent: int
    bad_lines: int
    seconds: float
    producers: int = 1


PARALLEL_FROM_BYTES = 16 << 20  # below this, starting a second producer process costs more than it saves


def default_producers(path: str) -> int:
    """One producer per core for big files. The client's producer is CPU-bound (it builds and encodes every
    message, 25-45 µs each with this process's share) and must not be shared between threads, so parallel means
    processes. Publishing alone, two measured 23-25k/s against 16-19k/s for one."""
    return min(2, os.cpu_count() or 1) if os.path.getsize(path) >= PARALLEL_FROM_BYTES else 1


def envelope_topic(body: bytes) -> str | None:
    match = _TOPIC.search(body)
    return match.group(1).decode("utf-8", "replace") if match else None


@dataclass(frozen=True)
class _Target:
    namesrv: str
    topic: str
    log_dir: Path
    tags: str | None
    access_key: str | None
    secret_key: str | None = field(repr=False)  # handed to producer processes through a pipe, never argv or logs
    channel: str


def publish_file(path: str, *, namesrv: str, topic: str, log_dir: Path, tags: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, channel: str = "CLOUD",
                 producers: int | None = None, on_bad=None) -> PublishReport:
    """Send every line of a replay file. With several producers the file is cut at line boundaries into one
    range per producer process; messages then arrive in file order per range, not overall (clustering consumers
    get no order across queues anyway, and the warehouse orders events by their own times)."""
    target = _Target(namesrv, topic, log_dir, tags, access_key, secret_key, channel)
    producers = producers or default_producers(path)
    started = time.perf_counter()
    ranges = line_ranges(path, producers)
    if not ranges:  # an empty file
        return PublishReport(sent=0, bad_lines=0, seconds=time.perf_counter() - started)
    if len(ranges) == 1:
        sent, bad, error = _publish_range(path, *ranges[0], target)
    else:
        # spawn, not fork: the parent may hold client threads (the demo) and a forked client is not safe
        with ProcessPoolExecutor(len(ranges), mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_publish_range, [path] * len(ranges), *zip(*ranges), [target] * len(ranges)))
        sent = sum(r[0] for r in results)
        bad = [item for r in results for item in r[1]]  # in file order, as the ranges are
        error = next((r[2] for r in results if r[2]), None)
    for item in bad:
        if on_bad:
            on_bad(item)
    if error:
        raise RuntimeError(f"{error}; {sent:,} messages of {path} were stored (publishing the file again sends "
                           "them again: the warehouse drops the duplicates)")
    return PublishReport(sent=sent, bad_lines=len(bad), seconds=time.perf_counter() - started,
                         producers=len(ranges))


def line_ranges(path: str, parts: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of up to ``parts`` byte ranges of whole lines covering the file."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            cuts = [0]
            for k in range(1, parts):
                cut = mapped.find(b"\n", max(size * k // parts, cuts[-1])) + 1
                if 0 < cut < size:
                    cuts.append(cut)
            cuts.append(size)
            cuts = sorted(set(cuts))
            ranges, line_no = [], 1
            for start, end in zip(cuts, cuts[1:]):
                ranges.append((start, end, line_no))
                line_no += mapped[start:end].count(b"\n")
            return ranges


def _publish_range(path: str, start: int, end: int, first_line: int, target: _Target):
    """One producer sending the lines in [start, end): (sent, bad lines, error or None)."""
    producer = MQProducer(target.namesrv, access_key=target.access_key, secret_key=target.secret_key,
                          channel=target.channel, log_dir=target.log_dir)
    sent, bad = 0, []
    try:
        with open(path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # unmapped when the last view is gone
        for line_no, block, lines in mapped_blocks(mapped, start, end, first_line):
            table, bad_lines = parse_block(block, path, line_no, lines)
            bad += bad_lines
            columns = table.select(["mq_msg_id", "tags", "keys", "body"]).to_pydict()
            messages = [OutgoingMessage(body, target.tags or line_tags or envelope_topic(body), keys, msg_id)
                        for msg_id, line_tags, keys, body in
                        zip(columns["mq_msg_id"], columns["tags"], columns["keys"], columns["body"])]
            for batch in batches(messages):
                producer.send_batch(target.topic, batch)
                sent += len(batch)
    except RuntimeError as exc:
        return sent, bad, str(exc)
    finally:
        producer.shutdown()
    return sent, bad, None


def batches(messages: list[OutgoingMessage]) -> list[list[OutgoingMessage]]:
    """Consecutive runs of at most MAX_BATCH messages and MAX_BATCH_BYTES, at least SPREAD runs when possible."""
    size = max(1, min(MAX_BATCH, len(messages) // SPREAD))
    runs, run, run_bytes = [], [], 0
    for message in messages:
        if run and (len(run) >= size or run_bytes + len(message.body) > MAX_BATCH_BYTES):
            runs.append(run)
            run, run_bytes = [], 0
        run.append(message)
        run_bytes += len(message.body)
    if run:
        runs.append(run)
    return runs
