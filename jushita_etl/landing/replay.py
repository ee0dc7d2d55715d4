"""Replay files (NDJSON, warehouse contract §0.2) as a delivery source for the landing writer.

The fast path parses whole blocks with Arrow's JSON reader. A block that Arrow rejects (a line that is not JSON,
a field of the wrong type, blank lines) is parsed line by line instead, so every bad line is reported as
``file:line`` and skipped while its neighbours land.
"""

from __future__ import annotations

import base64
import binascii
import errno
import io
import mmap
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from jushita_etl.landing.batches import LANDING_SCHEMA, china_now
from jushita_etl.landing.writer import LandingWriter, use_system_allocator

BLOCK_BYTES = 32 << 20
REPLAY_SCHEMA = pa.schema(
    [
        ("msg_id", pa.string()),
        ("topic", pa.string()),
        ("tags", pa.string()),
        ("keys", pa.string()),
        ("queue_id", pa.int32()),
        ("queue_offset", pa.int64()),
        ("born_timestamp", pa.int64()),
        ("reconsume_times", pa.int32()),
        ("body", pa.string()),
        ("body_base64", pa.string()),
    ]
)
_PARSE = pajson.ParseOptions(explicit_schema=REPLAY_SCHEMA, unexpected_field_behavior="ignore")
_READ = pajson.ReadOptions(use_threads=True, block_size=1 << 20)  # small blocks keep both cores busy
DELIVERY_FIELDS = [f.name for f in LANDING_SCHEMA if f.name != "batch_id"]


@dataclass
class BadLine:
    where: str
    reason: str


@dataclass
class ReplayReport:
    lines: int = 0
    landed: int = 0
    bad: list[BadLine] = field(default_factory=list)


def iter_blocks(stream: io.BufferedIOBase) -> Iterator[tuple[int, bytes | memoryview, int]]:
    """Yield (first line number, block of whole lines, number of lines). Files are mapped, not copied."""
    try:
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, io.UnsupportedOperation):  # stdin, pipes, empty files
        mapped = None
    if mapped is not None:
        yield from mapped_blocks(mapped, 0, len(mapped), 1)
        return
    line_no, tail = 1, b""
    while True:
        chunk = stream.read(BLOCK_BYTES)
        if not chunk:
            break
        data = tail + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            tail = data
            continue
        block, tail = data[:cut], data[cut:]
        lines = block.count(b"\n")
        yield line_no, block, lines
        line_no += lines
    if tail.strip():
        yield line_no, tail + b"\n", 1


def mapped_blocks(mapped: mmap.mmap, start: int, size: int, line_no: int) -> Iterator[tuple[int, bytes | memoryview, int]]:
    """The blocks of whole lines in ``mapped[start:size]`` (``start`` begins a line, numbered ``line_no``)."""
    view = memoryview(mapped)
    try:
        while start < size:
            end = mapped.rfind(b"\n", start, min(start + BLOCK_BYTES, size)) + 1
            if end <= start:  # one line longer than a block, or a last line without newline
                end = min(mapped.find(b"\n", start) + 1 or size, size)
            block = view[start:end]
            lines = int(np.count_nonzero(np.frombuffer(block, np.uint8) == 10))
            if end == size and not mapped[size - 1:size] == b"\n":
                block, lines = bytes(block) + b"\n", lines + 1
            yield line_no, block, lines
            line_no += lines
            start = end
    finally:
        del view


def land_replay(
    sources: list[str],
    writer: LandingWriter,
    *,
    on_bad: Callable[[BadLine], None] | None = None,
) -> ReplayReport:
    """Land every delivery of the given replay files (``-`` = stdin) through ``writer``."""
    report = ReplayReport()
    for source in sources:
        name = "<stdin>" if source == "-" else source
        stream = sys.stdin.buffer if source == "-" else open(Path(source), "rb")
        try:
            for first_line, block, lines in iter_blocks(stream):
                table, bad = parse_block(block, name, first_line, lines)
                report.lines += lines
                report.landed += table.num_rows
                for item in bad:
                    report.bad.append(item)
                    if on_bad:
                        on_bad(item)
                writer.add(table)
        finally:
            if source != "-":
                stream.close()
    writer.flush()
    return report


def parse_block(block: bytes | memoryview, name: str, first_line: int, lines: int) -> tuple[pa.Table, list[BadLine]]:
    try:
        raw = pajson.read_json(pa.BufferReader(pa.py_buffer(block)), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_lines(bytes(block), name, first_line)
    if raw.num_rows != lines:  # blank lines shift row numbers; let the slow path number them
        return _parse_lines(bytes(block), name, first_line)
    return _to_deliveries(raw, name, first_line)


def _to_deliveries(raw: pa.Table, name: str, first_line: int) -> tuple[pa.Table, list[BadLine]]:
    body = raw.column("body").combine_chunks()
    b64 = raw.column("body_base64").combine_chunks()
    msg_id = raw.column("msg_id").combine_chunks()
    bad: list[BadLine] = []
    missing_body = pc.and_(body.is_null(), b64.is_null())
    missing_id = pc.or_(msg_id.is_null(), pc.equal(pc.utf8_length(msg_id), 0))
    reject = pc.or_(missing_body, missing_id.fill_null(True))
    body_bin = body.cast(pa.binary())
    base64_rows = pc.and_(body.is_null(), b64.is_valid())
    if pc.any(base64_rows).as_py():  # rare: bodies that are not UTF-8; decode only those rows
        decoded, rejected = [], []
        for encoded in b64.filter(base64_rows).to_pylist():
            try:
                decoded.append(base64.b64decode(encoded, validate=True))
                rejected.append(False)
            except (binascii.Error, ValueError):
                decoded.append(None)
                rejected.append(True)
        body_bin = pc.replace_with_mask(body_bin, base64_rows, pa.array(decoded, pa.binary()))
        reject = pc.replace_with_mask(reject, base64_rows, pa.array(rejected))
    if pc.any(reject).as_py():
        for i in pc.indices_nonzero(reject).to_pylist():
            why = "no msg_id" if missing_id[i].as_py() else (
                "no body or body_base64" if missing_body[i].as_py() else "body_base64 is not base64")
            bad.append(BadLine(f"{name}:{first_line + i}", why))
    keep = pc.invert(reject)
    received = pa.repeat(pa.scalar(china_now(), pa.timestamp("ms")), raw.num_rows)
    table = pa.table(
        {
            "mq_msg_id": msg_id,
            "mq_topic": raw.column("topic"),
            "tags": raw.column("tags"),
            "keys": raw.column("keys"),
            "queue_id": raw.column("queue_id"),
            "queue_offset": raw.column("queue_offset"),
            "born_timestamp": raw.column("born_timestamp"),
            "reconsume_times": raw.column("reconsume_times"),
            "body": body_bin,
            "received_at": received,
        }
    )
    return table.filter(keep), bad


def _int_or_none(value, name: str):
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{name} is not an integer")


def _parse_lines(block: bytes, name: str, first_line: int) -> tuple[pa.Table, list[BadLine]]:
    rows: dict[str, list] = {key: [] for key in DELIVERY_FIELDS}
    bad: list[BadLine] = []
    now = china_now()
    for i, line in enumerate(block.split(b"\n")[:-1]):
        where = f"{name}:{first_line + i}"
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            bad.append(BadLine(where, f"not JSON ({exc.args[0].split(':')[0]})"))
            continue
        if not isinstance(obj, dict):
            bad.append(BadLine(where, "not a JSON object"))
            continue
        msg_id = obj.get("msg_id")
        if not isinstance(msg_id, str) or not msg_id:
            bad.append(BadLine(where, "no msg_id"))
            continue
        try:
            if isinstance(obj.get("body"), str):
                body = obj["body"].encode("utf-8", "surrogatepass")
            elif isinstance(obj.get("body_base64"), str):
                body = base64.b64decode(obj["body_base64"], validate=True)
            else:
                bad.append(BadLine(where, "no body or body_base64"))
                continue
            meta = [_int_or_none(obj.get(k), k) for k in ("queue_id", "queue_offset", "born_timestamp", "reconsume_times")]
        except (binascii.Error, ValueError) as exc:
            bad.append(BadLine(where, str(exc)))
            continue
        text = [obj.get(k) if isinstance(obj.get(k), str) else None for k in ("topic", "tags", "keys")]
        for key, value in zip(DELIVERY_FIELDS, [msg_id, *text, *meta, body, now]):
            rows[key].append(value)
    schema = pa.schema([f for f in LANDING_SCHEMA if f.name != "batch_id"])
    return pa.table(rows, schema=schema), bad


def land_files(files: list[str], landing_dir: Path, *, quiet: bool = False, fsync: bool = True, **flush):
    """Land replay files (``-``: stdin) into ``landing_dir`` through the background landing writer; returns the
    writer's stats and the replay report. ``quiet``: do not print the lines skipped as bad."""
    use_system_allocator()
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise FileNotFoundError(errno.ENOENT, "no such replay file", name)
    writer = LandingWriter(landing_dir, fsync=fsync, background=True, **flush)
    try:
        report = land_replay(files, writer, on_bad=None if quiet else lambda bad: print(
            f"skipped {bad.where}: {bad.reason}", file=sys.stderr))
    finally:
        writer.close()
    return writer.stats, report
