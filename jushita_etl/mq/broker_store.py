"""The development broker's message store: queues per topic, an index by physical offset and the consumer groups'
offsets, in memory and (with a directory) in an append-only commit log plus an offsets file, so a restart loses
nothing. A record also knows its wire form for a pull (``Record.encode``, the client's MessageDecoder layout)."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from jushita_etl.mq import remoting as rm

MAGIC = 0xDAA320A7


_HEAD = struct.Struct(">iIiiiqqiq8sq8siqi")  # a pulled message up to its body (MessageDecoder's layout)


_TAGS = "TAGS" + rm.NAME_SEP


def tags_of(properties: str) -> str | None:
    """The TAGS property, found without splitting every property."""
    if properties.startswith(_TAGS):
        start = len(_TAGS)
    else:
        at = properties.find(rm.PROP_SEP + _TAGS)
        if at < 0:
            return None
        start = at + 1 + len(_TAGS)
    end = properties.find(rm.PROP_SEP, start)
    return properties[start:] if end < 0 else properties[start:end]


@dataclass(slots=True)
class Record:
    topic: str
    queue_id: int
    queue_offset: int
    physical_offset: int
    flag: int
    sys_flag: int
    born_timestamp: int
    born_host: str
    store_timestamp: int
    reconsume_times: int
    properties: str
    body: bytes
    deliver_at: float = 0.0  # retry messages stay invisible until then
    # A stored record never changes, so what every pull of every group needs from it is computed once.
    tags: str | None = field(init=False, repr=False)
    _encoded: tuple[str, bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tags = tags_of(self.properties)

    def encode(self, store_host: str) -> bytes:
        cached = self._encoded
        if cached is None or cached[0] != store_host:
            cached = self._encoded = (store_host, self._encode(store_host))
        return cached[1]

    def _encode(self, store_host: str) -> bytes:
        topic = self.topic.encode()
        props = self.properties.encode()
        body = self.body
        return b"".join([
            _HEAD.pack(91 + len(body) + len(topic) + len(props), MAGIC, zlib.crc32(body) & 0x7FFFFFFF, self.queue_id,
                       self.flag, self.queue_offset, self.physical_offset, self.sys_flag, self.born_timestamp,
                       rm.host_bytes(self.born_host), self.store_timestamp, rm.host_bytes(store_host),
                       self.reconsume_times, 0, len(body)),
            body, len(topic).to_bytes(1, "big"), topic, len(props).to_bytes(2, "big", signed=True), props,
        ])


def _record_to_disk(r: Record) -> bytes:
    meta = orjson.dumps([r.topic, r.queue_id, r.queue_offset, r.physical_offset, r.flag, r.sys_flag, r.born_timestamp,
                         r.born_host, r.store_timestamp, r.reconsume_times, r.properties, r.deliver_at])
    payload = struct.pack(">I", len(meta)) + meta + r.body
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


class Store:
    """Queues per topic, a commit-log index by physical offset, and consumer offsets; optionally on disk."""

    def __init__(self, directory: Path | None):
        self.dir = directory
        self.queues: dict[str, list[list[Record]]] = {}
        self.by_physical: dict[int, Record] = {}
        self.offsets: dict[str, int] = {}  # "group\x01topic\x01queue" -> offset
        self.next_physical = 0
        self._log = None
        self._offsets_dirty = False
        if directory:
            directory.mkdir(parents=True, exist_ok=True)
            self._load()
            self._log = open(directory / "commitlog.bin", "ab")

    def _load(self) -> None:
        path = self.dir / "commitlog.bin"
        if path.exists():
            data = path.read_bytes()
            pos = 0
            while pos + 8 <= len(data):
                length, crc = struct.unpack(">II", data[pos:pos + 8])
                payload = data[pos + 8: pos + 8 + length]
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break  # a torn tail from a crash: everything before it is intact
                (meta_len,) = struct.unpack(">I", payload[:4])
                meta = json.loads(payload[4:4 + meta_len])
                record = Record(*meta[:11], body=payload[4 + meta_len:], deliver_at=meta[11])
                self._index(record)
                pos += 8 + length
            if pos < len(data):
                with open(path, "r+b") as fh:
                    fh.truncate(pos)
        offsets = self.dir / "offsets.json"
        if offsets.exists():
            self.offsets = json.loads(offsets.read_text())

    def _index(self, record: Record) -> None:
        queues = self.ensure_topic(record.topic)
        while len(queues) <= record.queue_id:
            queues.append([])
        queues[record.queue_id].append(record)
        self.by_physical[record.physical_offset] = record
        self.next_physical = max(self.next_physical, record.physical_offset + 1)

    def ensure_topic(self, topic: str) -> list[list[Record]]:
        if topic not in self.queues:
            n = 1 if topic.startswith(("%RETRY%", "%DLQ%")) else 4
            self.queues[topic] = [[] for _ in range(n)]
        return self.queues[topic]

    def append(self, *, topic: str, queue_id: int, flag: int, sys_flag: int, born_timestamp: int, born_host: str,
               reconsume_times: int, properties: str, body: bytes, deliver_at: float = 0.0) -> Record:
        queues = self.ensure_topic(topic)
        queue_id %= len(queues)
        queue = queues[queue_id]
        record = Record(topic, queue_id, len(queue), self.next_physical, flag, sys_flag, born_timestamp, born_host,
                        int(time.time() * 1000), reconsume_times, properties, body, deliver_at)
        self.next_physical += 1
        queue.append(record)
        self.by_physical[record.physical_offset] = record
        if self._log:
            self._log.write(_record_to_disk(record))
        return record

    def flush(self) -> None:
        """Hand what was appended to the OS before answering: it survives a broker crash (not a power cut; this
        is a dev broker)."""
        if self._log:
            self._log.flush()

    def get_offset(self, group: str, topic: str, queue_id: int) -> int | None:
        return self.offsets.get(f"{group}\x01{topic}\x01{queue_id}")

    def set_offset(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        key = f"{group}\x01{topic}\x01{queue_id}"
        if self.offsets.get(key) != offset:
            self.offsets[key] = offset
            self._offsets_dirty = True

    def save_offsets(self) -> None:
        if self.dir and self._offsets_dirty:
            tmp = self.dir / "offsets.json.tmp"
            tmp.write_text(json.dumps(self.offsets))
            os.replace(tmp, self.dir / "offsets.json")
            self._offsets_dirty = False

    def close(self) -> None:
        self.save_offsets()
        if self._log:
            self._log.close()
