"""Publish a replay file through the real producer: tags = the envelope topic unless the line has tags,
body bytes preserved, the line's msg_id kept as the message id.

Messages go out in synchronous batches (one request stores up to ``MAX_BATCH`` messages), sized so that even a
small file spreads over several requests and therefore over the topic's queues, as single sends would."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from jushita_etl.landing.replay import iter_blocks, parse_block
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


def envelope_topic(body: bytes) -> str | None:
    match = _TOPIC.search(body)
    return match.group(1).decode("utf-8", "replace") if match else None


def publish_file(path: str, *, namesrv: str, topic: str, log_dir: Path, tags: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, channel: str = "CLOUD",
                 on_bad=None) -> PublishReport:
    producer = MQProducer(namesrv, access_key=access_key, secret_key=secret_key, channel=channel, log_dir=log_dir)
    started, sent, bad = time.perf_counter(), 0, 0
    try:
        with open(path, "rb") as stream:
            for first_line, block, lines in iter_blocks(stream):
                table, bad_lines = parse_block(block, path, first_line, lines)
                bad += len(bad_lines)
                for item in bad_lines:
                    if on_bad:
                        on_bad(item)
                columns = table.select(["mq_msg_id", "tags", "keys", "body"]).to_pydict()
                messages = [OutgoingMessage(body, tags or line_tags or envelope_topic(body), keys, msg_id)
                            for msg_id, line_tags, keys, body in
                            zip(columns["mq_msg_id"], columns["tags"], columns["keys"], columns["body"])]
                for batch in batches(messages):
                    try:
                        producer.send_batch(topic, batch)
                    except RuntimeError as exc:
                        raise RuntimeError(f"{exc}; {sent:,} messages of {path} were stored before it (publishing "
                                           "the file again sends them again: the warehouse drops the duplicates)") from None
                    sent += len(batch)
    finally:
        producer.shutdown()
    return PublishReport(sent=sent, bad_lines=bad, seconds=time.perf_counter() - started)


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
