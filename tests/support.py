"""Hand-written deliveries for tests: build replay lines the way the feed would carry them."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from jushita_etl.build import run_build
from jushita_etl.landing.replay import land_files
from jushita_etl.settings import Paths, paths

if TYPE_CHECKING:  # imported where used: the tests without Dagster (tests/unit) never import it
    import dagster as dg

_ids = itertools.count(1)


def envelope(topic: str, content, *, id=None, pub_time="2026-11-11 10:00:00", user_id=42, user_nick="店铺", content_as_text=True):
    """An envelope body (dict). ``content`` is JSON-encoded into a string unless content_as_text is False."""
    body = {"id": id if id is not None else 10**18 + next(_ids), "topic": topic, "pub_time": pub_time,
            "user_id": user_id, "user_nick": user_nick, "pub_app_key": "12497914"}
    body["content"] = json.dumps(content, ensure_ascii=False) if content_as_text and not isinstance(content, str) else content
    return body


def delivery(body, *, msg_id=None, born=1_794_000_000_000, reconsume=0, tags=None) -> dict:
    """A replay line (dict). ``body`` may be a dict (JSON-encoded), a str, or bytes (base64 when not UTF-8)."""
    record = {"msg_id": msg_id or f"{next(_ids):032X}", "topic": "jushita_sync_12497914", "tags": tags, "keys": None,
              "queue_id": 0, "queue_offset": next(_ids), "born_timestamp": born, "reconsume_times": reconsume}
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False)
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            record["body_base64"] = base64.b64encode(body).decode()
            return record
    record["body"] = body
    return record


def write_replay(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def land_and_build(data_dir: Path, records: list[dict], instance: dg.DagsterInstance, name="feed.jsonl") -> Paths:
    """Land ``records`` and build with the real Dagster definitions, in-process."""
    p = paths(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    feed = write_replay(data_dir / name, records)
    land_files([str(feed)], p.landing, quiet=True)
    run_build(p, instance=instance)
    return p


def concurrent_callbacks(callback, *, threads: int = 16, each: int = 100) -> None:
    """Call ``callback(i)`` for i in range(threads * each) from ``threads`` threads at once, as a consumer's
    consume threads call back (thread k takes k*each ... k*each + each - 1)."""
    import threading

    workers = [threading.Thread(target=lambda k=k: [callback(k * each + j) for j in range(each)]) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
