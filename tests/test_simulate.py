"""The simulator: deterministic, realistic, and carrying every delivery effect the warehouse must handle."""

import base64
import io
import json
from collections import Counter

from jushita_etl.simulate.feed import FeedConfig, write_feed


def simulate(**overrides) -> tuple[bytes, list[dict]]:
    out = io.BytesIO()
    write_feed(out, FeedConfig(**{"orders": 600, "seed": 3, **overrides}))
    data = out.getvalue()
    return data, [json.loads(line) for line in data.splitlines()]


def bodies(records):
    for r in records:
        raw = r["body"].encode() if "body" in r else base64.b64decode(r["body_base64"])
        try:
            yield r, json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            yield r, None


def test_same_seed_same_bytes_other_seed_differs():
    assert simulate()[0] == simulate()[0]
    assert simulate()[0] != simulate(seed=4)[0]


def test_replay_format():
    _, records = simulate()
    for r in records:
        assert {"msg_id", "topic", "tags", "keys", "queue_id", "queue_offset", "born_timestamp", "reconsume_times"} <= r.keys()
        assert ("body" in r) != ("body_base64" in r)


def test_feed_looks_like_the_platform():
    _, records = simulate(malformed_rate=0.05)
    topics = Counter()
    big_ids, money_strings, pay_without_status, impressions = 0, 0, 0, 0
    for _, body in bodies(records):
        if not isinstance(body, dict) or "topic" not in body:
            continue
        topics[body["topic"]] += 1
        content = body["content"] if isinstance(body.get("content"), dict) else json.loads(body["content"]) if isinstance(body.get("content"), str) and body["content"].startswith("{") else {}
        big_ids += isinstance(body.get("id"), int) and body["id"] > 2**53
        money_strings += isinstance(content.get("payment"), str)
        pay_without_status += body["topic"].endswith("TradeBuyerPay") and "status" not in content
        impressions += "impr_words" in content
    for needed in ["taobao_trade_TradeCreate", "taobao_trade_TradeBuyerPay", "taobao_trade_TradeSellerShip",
                   "taobao_trade_TradeSuccess", "taobao_trade_TradeClose", "taobao_refund_RefundCreated",
                   "taobao_refund_RefundSuccess", "taobao_item_ItemAdd", "taobao_item_ItemDownshelf",
                   "taobao_logistics_LogsticDetailTrace", "taobao_traderate_ImprBadTag", "taobao_fenxiao_FxOrderCreate"]:
        assert topics[needed] > 0, needed
    assert big_ids > 1000 and money_strings > 500 and pay_without_status > 100 and impressions > 5


def test_delivery_effects():
    _, records = simulate(redelivery_rate=0.05, duplicate_rate=0.05, malformed_rate=0.05)
    by_msg = Counter(r["msg_id"] for r in records)
    redelivered = [r for r in records if by_msg[r["msg_id"]] > 1 and r["reconsume_times"] > 0]
    assert redelivered, "broker redeliveries keep the msg_id and raise reconsume_times"
    envelope_ids = Counter(body["id"] for r, body in bodies(records) if isinstance(body, dict) and "id" in body and by_msg[r["msg_id"]] == 1)
    assert any(n > 1 for n in envelope_ids.values()), "platform duplicates: same envelope id under new msg_ids"
    assert any("body_base64" in r for r in records), "some bodies are not UTF-8"
    born = [r["born_timestamp"] for r in records]
    assert born != sorted(born), "arrival order is not publish order"


def test_sharded_feed_is_one_arrival_ordered_stream(tmp_path, monkeypatch):
    """Large feeds are drawn in shards that write their lines in place: the bytes must not depend on the machine's
    cores nor on whether the feed goes to a file or a pipe; lines come in arrival order, with dense offsets per
    queue."""
    import jushita_etl.simulate.feed as feed

    cfg = FeedConfig(orders=2 * feed.SHARD_MIN_ORDERS, days=2, seed=11)
    path = tmp_path / "feed.jsonl"
    monkeypatch.setattr(feed.os, "cpu_count", lambda: 1)
    with open(path, "wb") as fh:
        fh.write(b"")  # shards write at offsets relative to where the stream stands
        stats = write_feed(fh, cfg)
    monkeypatch.setattr(feed.os, "cpu_count", lambda: 8)
    piped = io.BytesIO()
    write_feed(piped, cfg)
    data = path.read_bytes()
    assert data == piped.getvalue()
    records = [json.loads(line) for line in data.splitlines()]
    assert len(records) == stats.lines > 10 * feed.SHARD_MIN_ORDERS
    next_offset = Counter()
    for r in records:
        assert r["queue_offset"] == next_offset[r["queue_id"]]
        next_offset[r["queue_id"]] += 1
    assert {r["queue_id"] for r in records[:1000]} == {0, 1, 2, 3}  # the shards interleave from the start
    born = [r["born_timestamp"] for r in records if r["reconsume_times"] == 0]
    assert sum(a > b for a, b in zip(born, born[1:])) < 0.1 * len(born)  # arrival order, up to duplicates' re-births
