"""Simulated Jushita deliveries that look like the real feed (``jushita-messages.md``).

Per seller: an item catalogue with its lifecycle; orders from creation through payment, memo, shipment,
logistics traces, success or close, refunds with their own lifecycle (and the trade close that follows a full
refund), ratings with negative impressions, distribution orders, and a few unmodelled topics. Then the
delivery effects of a real queue: broker redeliveries, platform duplicates, out-of-order and days-late
arrivals, and malformed deliveries of every quarantine reason.

Everything is drawn from one ``random.Random(seed)``, so a seed always gives the same file.
"""

from __future__ import annotations

import base64
import gc
import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

import numpy as np
import orjson

EPOCH_CHINA = datetime(1970, 1, 1, 8, 0, 0)
SHOPS = ["花间专营店", "悦己数码", "优品食品店", "tab\there", "潮牌🔥旗舰店", "O'Neil \"quoted\" shop", "back\\slash家居"]
BUYERS = ["tb", "小明", "c**", "t**1", "🐱喵喵", "王*", "buyer_"]
TITLES = ["纯棉T恤 男款 夏季", "蓝牙耳机 降噪", "坚果礼盒 1kg", "保温杯 316不锈钢", "儿童积木 🧱 套装", "手机壳 \"防摔\""]
COMPANIES = ["申通快递", "圆通速递", "中通快递", "顺丰速运", "韵达快递", "EMS"]
IMPRESSIONS = ["尺码-负面-偏小", "质量-负面-起球", "物流-负面-太慢", "色差-负面-偏暗", "服务-负面-态度差", "包装-负面-破损"]
TRADE_TYPES = ["fixed", "guarantee_trade", "step", "cod"]


@dataclass
class FeedConfig:
    sellers: int = 4
    orders: int = 800
    start: str = "2026-11-09"
    days: int = 5
    seed: int = 7
    redelivery_rate: float = 0.01
    duplicate_rate: float = 0.015
    out_of_order_rate: float = 0.05
    late_rate: float = 0.01
    malformed_rate: float = 0.002
    unmodelled_rate: float = 0.002


@dataclass
class FeedStats:
    deliveries: int = 0
    lines: int = 0
    events: int = 0
    malformed: int = 0


def seller_nick(index: int) -> str:
    """The nick of the index-th simulated seller (masked, emoji and quoted shop names included)."""
    return f"{SHOPS[index % len(SHOPS)]}{index + 1}"


class _Feed:
    """The events of one shard of the feed: every shard has the same sellers; shard 0 also has their items."""

    def __init__(self, cfg: FeedConfig, shard: int = 0, shards: int = 1):
        self.cfg, self.shard, self.shards = cfg, shard, shards
        self.rng = random.Random(f"{cfg.seed}-{shard}")
        self.events: list[tuple[datetime, int, str, dict, int, str]] = []  # (time, seq, topic, content, user_id, nick)
        self.seq = 0

    # ids: mostly above 2^53, a few near 2^63-1, a few small
    def big_id(self) -> int:
        roll = self.rng.random()
        if roll < 0.02:
            return (1 << 63) - 1 - self.rng.getrandbits(20)
        if roll < 0.1:
            return self.rng.randrange(10**11, 10**15)
        return (1 << 53) | self.rng.getrandbits(61)

    def money(self, low: float = 5, high: float = 3000) -> str:
        return f"{self.rng.uniform(low, high):.2f}"

    def emit(self, when: datetime, topic: str, content: dict, seller: dict) -> None:
        self.seq += 1
        self.events.append((when, self.seq, topic, content, seller["user_id"], seller["nick"]))

    def build(self) -> None:
        cfg, rng = self.cfg, self.rng
        start = datetime.strptime(cfg.start, "%Y-%m-%d")
        span = max(cfg.days, 1) * 86400
        seller_rng = random.Random(f"{cfg.seed}-sellers")
        sellers = [{"nick": seller_nick(i), "user_id": seller_rng.randrange(10**8, 4 * 10**9), "items": []}
                   for i in range(max(cfg.sellers, 1))]
        if self.shard == 0:
            for seller in sellers:
                for _ in range(rng.randint(5, 12)):
                    seller["items"].append(self.item_lifecycle(seller, start + timedelta(seconds=rng.randrange(span))))
        orders = cfg.orders // self.shards + (1 if self.shard < cfg.orders % self.shards else 0)
        for _ in range(orders):
            seller = rng.choice(sellers)
            created = start + timedelta(seconds=rng.randrange(span))
            if rng.random() < 0.05:
                self.fenxiao_order(seller, created)
            else:
                self.order(seller, created)

    def item_lifecycle(self, seller: dict, at: datetime) -> int:
        rng = self.rng
        num_iid = rng.randrange(10**11, 10**12)
        price, qty = self.money(), rng.randint(10, 500)
        base = {"num_iid": num_iid, "nick": seller["nick"]}
        self.emit(at, "taobao_item_ItemAdd", {**base, "title": rng.choice(TITLES), "price": price, "num": qty}, seller)
        at += timedelta(seconds=rng.randint(0, 600))
        self.emit(at, "taobao_item_ItemUpshelf", {**base, "price": price}, seller)
        for _ in range(rng.randint(0, 4)):
            at += timedelta(minutes=rng.randint(1, 600))
            kind = rng.random()
            if kind < 0.4:
                price = self.money()
                self.emit(at, "taobao_item_ItemUpdate", {**base, "price": price, "changed_fields": "price"}, seller)
            elif kind < 0.8:
                qty = rng.randint(0, 800)
                sku = {"sku_id": self.big_id(), "sku_num": rng.randint(0, 50)} if rng.random() < 0.5 else {}
                self.emit(at, "taobao_item_ItemStockChanged",
                          {**base, "num": str(qty) if rng.random() < 0.2 else qty, **sku, "changed_fields": "num,sku"}, seller)
            else:
                self.emit(at, "taobao_item_ItemZeroStock", {**base, "num": 0}, seller)
        if rng.random() < 0.3:
            at += timedelta(hours=rng.randint(1, 48))
            self.emit(at, "taobao_item_ItemDownshelf", {"num_iid": num_iid}, seller)
            if rng.random() < 0.3:
                at += timedelta(hours=rng.randint(1, 48))
                self.emit(at, "taobao_item_ItemDelete", {**base}, seller)
        return num_iid

    def order(self, seller: dict, at: datetime) -> None:
        rng = self.rng
        tid = self.big_id()
        oid = tid if rng.random() < 0.7 else tid + rng.randint(1, 9)
        buyer = rng.choice(BUYERS) + (str(rng.randint(1, 99999)) if rng.random() < 0.6 else "")
        open_uid = "AAH" + "".join(rng.choices("abcdefghijkLMNOPQ0123456789", k=21)) if rng.random() < 0.4 else None
        ttype = rng.choice(TRADE_TYPES)
        payment = self.money()
        base = {"tid": tid, "oid": oid, "buyer_nick": buyer, "seller_nick": seller["nick"], "type": ttype}
        if open_uid:
            base["buyer_open_uid"] = open_uid
        if rng.random() < 0.05:  # ids sometimes arrive as digit strings
            base["tid"] = str(tid)

        def trade(topic: str, status: str | None, **extra) -> None:
            content = {**base, "payment": payment, **extra}
            if status is not None:
                content["status"] = status
            self.emit(at, "taobao_trade_" + topic, content, seller)

        trade("TradeCreate", "WAIT_BUYER_PAY")
        if rng.random() < 0.1:
            payment = self.money()
            trade("TradeModifyFee", "WAIT_BUYER_PAY")
        if rng.random() < 0.08:  # cancelled before payment
            at += timedelta(minutes=rng.randint(5, 3000))
            trade("TradeClose", "TRADE_CLOSED_BY_TAOBAO")
            return
        if rng.random() < 0.5:
            at += timedelta(seconds=rng.randint(0, 2))
            trade("TradeAlipayCreate", "WAIT_BUYER_PAY")
        at += timedelta(seconds=rng.choice([0, 0, 1, 5, 60, 7200]))  # often the same second as the create
        trade("TradeBuyerPay", None if rng.random() < 0.6 else "WAIT_SELLER_SEND_GOODS")
        if rng.random() < 0.15:
            at += timedelta(minutes=rng.randint(1, 300))
            trade("TradeMemoModified", None, action_type="seller", seller_memo="加急 🚚", seller_flag=1)
        refund_before_ship = rng.random() < 0.05
        if refund_before_ship:
            self.refund(seller, base, payment, at + timedelta(minutes=rng.randint(5, 600)), "onsale", full=True)
            return
        at += timedelta(hours=rng.uniform(0.5, 60))
        trade("TradeSellerShip", "WAIT_BUYER_CONFIRM_GOODS")
        signed_at = self.logistics(seller, tid, at)
        end = (signed_at or at) + timedelta(hours=rng.uniform(1, 120))
        if rng.random() < 0.12:
            full = rng.random() < 0.6
            self.refund(seller, base, payment, (signed_at or at) + timedelta(hours=rng.uniform(1, 48)), "aftersale", full=full)
            if full:
                return
        at = end
        trade("TradeSuccess", "TRADE_FINISHED")
        if rng.random() < 0.4:
            at += timedelta(hours=rng.uniform(1, 72))
            trade("TradeRated", "TRADE_FINISHED", rater="buyer", iid=rng.randrange(10**11, 10**12))
            if rng.random() < 0.3:
                self.impression(seller, tid, oid, at + timedelta(minutes=rng.randint(0, 30)))

    def refund(self, seller: dict, base: dict, payment: str, at: datetime, phase: str, full: bool) -> None:
        rng = self.rng
        refund_id = self.big_id()
        fee = payment if full else f"{float(payment) * rng.uniform(0.1, 0.9):.2f}"
        content = {"refund_id": refund_id, "tid": base["tid"], "oid": base["oid"], "buyer_nick": base["buyer_nick"],
                   "seller_nick": seller["nick"], "refund_fee": fee, "refund_phase": phase,
                   "bill_type": "refund_bill" if phase == "onsale" else rng.choice(["refund_bill", "return_bill"])}

        def step(topic: str) -> None:
            self.emit(at, "taobao_refund_" + topic, {**content, "modified": at.isoformat(" ", "seconds")}, seller)

        step("RefundCreated")
        if rng.random() < 0.15:
            at += timedelta(hours=rng.uniform(0.1, 10))
            step("RefundBuyerModifyAgreement")
        if rng.random() < 0.1:
            at += timedelta(minutes=rng.randint(1, 90))
            step("RefundCreateMessage")
        at += timedelta(hours=rng.uniform(0.1, 30))
        if rng.random() < 0.15:
            step("RefundSellerRefuseAgreement")
            at += timedelta(hours=rng.uniform(1, 40))
            step("RefundClosed")
            return
        step("RefundSellerAgreeAgreement")
        if content["bill_type"] == "return_bill":
            at += timedelta(hours=rng.uniform(1, 48))
            step("RefundBuyerReturnGoods")
        at += timedelta(hours=rng.uniform(0.5, 48))
        if rng.random() < 0.1:
            step("RefundClosed")
            return
        step("RefundSuccess")
        if full:
            at += timedelta(seconds=rng.randint(0, 5))
            self.emit(at, "taobao_trade_TradeClose", {"tid": base["tid"], "oid": base["oid"], "buyer_nick": base["buyer_nick"],
                      "seller_nick": seller["nick"], "type": base["type"], "status": "TRADE_CLOSED"}, seller)

    def logistics(self, seller: dict, tid: int, at: datetime) -> datetime | None:
        rng = self.rng
        company = rng.choice(COMPANIES)
        out_sid = f"{company[:1]}{rng.randrange(10**11, 10**12)}" if rng.random() < 0.97 else None
        steps = ["CREATE", "CONSIGN", "GOT", "DEPARTURE", "ARRIVAL", "SENT_CITY", "SENT_SCAN"]
        final = "FAILED" if rng.random() < 0.05 else "SIGNED"
        trace = at - timedelta(minutes=rng.randint(1, 90))
        signed = None
        for action in steps[: rng.randint(3, len(steps))] + [final]:
            trace += timedelta(minutes=rng.randint(10, 900))
            pub = trace + timedelta(seconds=rng.randint(0, 240))
            content = {"tid": tid, "action": action, "desc": f"【{company}】{action} 快件已处理", "company_name": company,
                       "time": trace.isoformat(" ", "seconds")}
            if rng.random() < 0.05:  # some traces carry the time as epoch milliseconds
                content["time"] = int((trace - EPOCH_CHINA).total_seconds() * 1000)
            if out_sid:
                content["out_sid"] = out_sid
            self.emit(pub, "taobao_logistics_LogsticDetailTrace", content, seller)
            if action == "SIGNED":
                signed = trace
        return signed

    def impression(self, seller: dict, tid: int, oid: int, at: datetime) -> None:
        rng = self.rng
        words = rng.sample(IMPRESSIONS, rng.randint(1, 3))
        if rng.random() < 0.1:
            words.append("坏条目")  # malformed item: skipped by the warehouse
        impr = words if rng.random() < 0.1 else ";".join(words)
        self.emit(at, "taobao_traderate_ImprBadTag", {"tid": tid, "oid": oid, "num_iid": rng.randrange(10**11, 10**12),
                  "seller_nick": seller["nick"], "biz_type": rng.choice([0, 3]), "feedback": "东西一般般，起球",
                  "impr_words": impr, "gmt_modified": at.isoformat(" ", "seconds")}, seller)

    def fenxiao_order(self, seller: dict, at: datetime) -> None:
        rng = self.rng
        fenxiao_id, sub_order_id = rng.randrange(10**11, 10**12), rng.randrange(10**11, 10**12)
        base = {"fenxiao_id": str(fenxiao_id) if rng.random() < 0.3 else fenxiao_id, "sub_order_id": sub_order_id,
                "tc_order_id": self.big_id(), "supplier_username": seller["nick"],
                "distributor_username": f"分销商{rng.randint(1, 40)}", "trade_type": rng.choice(["AGENT", "DEALER"]),
                "distributor_payment": self.money()}
        for topic in ["FxOrderCreate", "FxOrderPaid", "FxOrderShipped", "FxOrderSuccess"][: rng.randint(1, 4)]:
            self.emit(at, "taobao_fenxiao_" + topic, base, seller)
            at += timedelta(hours=rng.uniform(0.1, 30))

    def unmodelled(self, at: datetime, seller: dict) -> None:
        topic = self.rng.choice(["taobao_fuwu_OrderPaid", "taobao_oc_TradeTagChanged", "taobao_logistics_Accept"])
        self.emit(at, topic, {"tid": self.big_id(), "seller_nick": seller["nick"], "tag_name": "vip"}, seller)


def _malformed(rng: random.Random, when: datetime) -> tuple[str, bytes]:
    """One delivery body for each quarantine reason of the contract, drawn at random."""
    pub = when.isoformat(" ", "seconds")
    mid = rng.randrange(1 << 60, 1 << 62)
    good = orjson.dumps({"tid": rng.randrange(1 << 53, 1 << 62)}).decode()
    cases = [
        ("taobao_trade_TradeCreate", b"\xff\xfe\x00garbage\x80"),  # not UTF-8
        ("taobao_trade_TradeCreate", b"[1,2,3]"),
        ("taobao_trade_TradeCreate", b'{"id": 1, "topic": "taobao_trade_TradeCreate", "content": '),
        ("taobao_trade_TradeCreate", orjson.dumps({"topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": good})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": "1.2e18", "topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": good})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": mid, "topic": "taobao_trade_TradeCreate", "pub_time": pub.replace("-", "/"), "content": good})),
        ("taobao_refund_RefundCreated", orjson.dumps({"id": mid, "topic": "", "pub_time": pub, "content": good})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": mid, "topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": 42})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": mid, "topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": "not json at all"})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": mid, "topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": "[1]"})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": mid, "topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": '{"status": "WAIT_BUYER_PAY"}'})),
        ("taobao_trade_TradeCreate", orjson.dumps({"id": mid, "topic": "taobao_trade_TradeCreate", "pub_time": pub, "content": '{"tid": 1.5}'})),
        ("taobao_refund_RefundCreated", orjson.dumps({"id": mid, "topic": "taobao_refund_RefundCreated", "pub_time": pub, "content": '{"tid": 5}'})),
        ("taobao_item_ItemAdd", orjson.dumps({"id": mid, "topic": "taobao_item_ItemAdd", "pub_time": pub, "content": '{"num_iid": 99999999999999999999}'})),
        ("taobao_logistics_LogsticDetailTrace", orjson.dumps({"id": mid, "topic": "taobao_logistics_LogsticDetailTrace", "pub_time": pub, "content": '{"tid": "12ab34"}'})),
    ]
    return rng.choice(cases)


SHARD_MIN_ORDERS = 5_000  # feeds with at least twice this many orders are drawn in one shard per core


def write_feed(out: IO[bytes], cfg: FeedConfig) -> FeedStats:
    """Simulate the feed described by ``cfg`` and write it to ``out`` as replay NDJSON (same bytes for a seed).

    Large feeds are drawn in shards, each from its own generator in its own process; the shards' deliveries are
    merged by arrival time, and queue ids and offsets are assigned in that merged order.
    """
    cores = os.cpu_count() or 1
    shards = cores if cores > 1 and cfg.orders >= 2 * SHARD_MIN_ORDERS else 1
    if shards == 1:
        streams = [_shard_lines((cfg, 0, 1))]
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(shards) as pool:
            streams = pool.map(_shard_lines, [(cfg, k, shards) for k in range(shards)])
    stats = FeedStats()
    keys, lines = [], []
    for key_bytes, blob, deliveries, events, malformed in streams:
        keys.append(np.frombuffer(key_bytes, dtype=np.float64))
        lines.extend(blob.split(b"\n") if blob else [])
        stats.deliveries += deliveries
        stats.events += events
        stats.malformed += malformed
    stats.lines = len(lines)
    # Merge by arrival time; equal times keep shard order (a stable sort), so a seed always gives the same bytes.
    order = np.argsort(np.concatenate(keys), kind="stable") if keys else []
    queue_rng = random.Random(f"{cfg.seed}-queues")
    offsets = [0, 0, 0, 0]
    buf: list[bytes] = []
    for index in order.tolist() if len(order) else []:
        queue = queue_rng.getrandbits(2)
        buf.append(b'{"queue_id":%d,"queue_offset":%d,%s' % (queue, offsets[queue], lines[index]))
        offsets[queue] += 1
        if len(buf) >= 8192:
            out.write(b"\n".join(buf) + b"\n")
            buf.clear()
    if buf:
        out.write(b"\n".join(buf) + b"\n")
    return stats


def _shard_lines(job: tuple[FeedConfig, int, int]) -> tuple[bytes, bytes, int, int, int]:
    """One shard's deliveries in arrival order: their arrival times (float64 bytes) and their lines without the
    queue fields (one newline-joined blob: two large objects cross the process boundary, not a million small ones)."""
    cfg, shard, shards = job
    # Millions of small dicts and no reference cycles: the cyclic collector would rescan them all, again and again.
    gc.disable()
    try:
        feed = _Feed(cfg, shard, shards)
        feed.build()
        pairs, deliveries, events, malformed = _format_lines(feed, cfg)
        keys = np.array([key for key, _ in pairs], dtype=np.float64).tobytes()
        return keys, b"\n".join(line for _, line in pairs), deliveries, events, malformed
    finally:
        gc.enable()


def _format_lines(feed: "_Feed", cfg: FeedConfig) -> tuple[list[tuple[float, bytes]], int, int, int]:
    rng = feed.rng
    events = feed.events
    events.sort(key=lambda e: (e[0], e[1]))
    # Arrival order: mostly publish order, with local swaps and a few days-late stragglers.
    arrival: list[tuple[float, int]] = []
    for i, ev in enumerate(events):
        key = ev[0].timestamp()
        roll = rng.random()
        if roll < cfg.late_rate:
            key += rng.uniform(1, 4) * 86400
        elif roll < cfg.late_rate + cfg.out_of_order_rate:
            key += rng.uniform(1, 600)
        arrival.append((key, i))
    arrival.sort()
    out: list[tuple[float, bytes]] = []
    pending_redeliveries: list[bytes] = []
    counts = {"deliveries": 0, "events": 0, "malformed": 0}

    def line(body: bytes, tags: str | None, born: int, reconsume: int = 0) -> bytes:
        head = orjson.dumps({"msg_id": "%032X" % rng.getrandbits(128), "topic": "jushita_sync_12497914",
                             "tags": tags, "keys": None, "born_timestamp": born, "reconsume_times": reconsume})
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return head[1:-1] + b',"body_base64":"' + base64.b64encode(body) + b'"}'
        return head[1:-1] + b',"body":' + orjson.dumps(text) + b"}"

    for arrive_key, i in arrival:
        when, _seq, topic, content, user_id, nick = events[i]
        message_id = (1 << 60) | rng.getrandbits(62)
        content_text = orjson.dumps(content).decode()
        pub_time = when.isoformat(" ", "seconds")
        envelope = {"content": content_text if rng.random() < 0.95 else content, "id": message_id,
                    "pub_app_key": "12497914", "pub_time": pub_time, "topic": topic,
                    "user_id": user_id if rng.random() < 0.95 else str(user_id), "user_nick": nick}
        body = orjson.dumps(envelope)
        born = int(arrive_key * 1000)
        raw = line(body, topic, born)
        out.append((arrive_key, raw))
        counts["deliveries"] += 1
        counts["events"] += 1
        if rng.random() < cfg.redelivery_rate:  # the broker delivers the same msg_id again
            record = orjson.loads(b"{" + raw)
            record["reconsume_times"] = rng.randint(1, 3)
            pending_redeliveries.append(orjson.dumps(record)[1:])
        if rng.random() < cfg.duplicate_rate:  # the platform publishes the same message again
            out.append((arrive_key, line(body, topic, born + rng.randint(1000, 600000))))
            counts["deliveries"] += 1
        if rng.random() < cfg.malformed_rate:
            tags, bad = _malformed(rng, when)
            out.append((arrive_key, line(bad, tags, born)))
            counts["deliveries"] += 1
            counts["malformed"] += 1
        if rng.random() < cfg.unmodelled_rate:
            feed.unmodelled(when, {"nick": nick, "user_id": user_id})
            _w, _s, utopic, ucontent, _u, _n = events.pop()
            ubody = orjson.dumps({"content": orjson.dumps(ucontent).decode(), "id": rng.randrange(1 << 60, 1 << 62),
                                  "pub_app_key": "12497914", "pub_time": pub_time, "topic": utopic,
                                  "user_id": user_id, "user_nick": nick})
            out.append((arrive_key, line(ubody, utopic, born)))
            counts["deliveries"] += 1
        if pending_redeliveries and rng.random() < 0.2:
            out.append((arrive_key, pending_redeliveries.pop(0)))
    last = arrival[-1][0] if arrival else 0.0
    out.extend((last, raw) for raw in pending_redeliveries)
    return out, counts["deliveries"], counts["events"], counts["malformed"]
