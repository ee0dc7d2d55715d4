"""Simulated Jushita deliveries that look like the real feed (``jushita-messages.md``).

Per seller: an item catalogue with its lifecycle; orders from creation through payment, memo, shipment,
logistics traces, success or close, refunds with their own lifecycle (and the trade close that follows a full
refund), ratings with negative impressions, distribution orders, and a few unmodelled topics. Then the
delivery effects of a real queue: broker redeliveries, platform duplicates, out-of-order and days-late
arrivals, and malformed deliveries of every quarantine reason.

Everything is drawn from generators seeded by ``seed`` (one per shard, one for the sellers), and the number of
shards depends only on the feed's size, so a seed always gives the same file, on any machine.
"""

from __future__ import annotations

import base64
import gc
import multiprocessing
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

import numpy as np
import orjson

WALL_EPOCH = datetime(1970, 1, 1)  # the simulated clock: China wall time, no zone
SHOPS = ["花间专营店", "悦己数码", "优品食品店", "tab\there", "潮牌🔥旗舰店", "O'Neil \"quoted\" shop", "back\\slash家居"]
BUYERS = ["tb", "小明", "c**", "t**1", "🐱喵喵", "王*", "buyer_"]
TITLES = ["纯棉T恤 男款 夏季", "蓝牙耳机 降噪", "坚果礼盒 1kg", "保温杯 316不锈钢", "儿童积木 🧱 套装", "手机壳 \"防摔\""]
COMPANIES = ["申通快递", "圆通速递", "中通快递", "顺丰速运", "韵达快递", "EMS"]
IMPRESSIONS = ["尺码-负面-偏小", "质量-负面-起球", "物流-负面-太慢", "色差-负面-偏暗", "服务-负面-态度差", "包装-负面-破损"]
TRADE_TYPES = ["fixed", "guarantee_trade", "step", "cod"]
BILL_TYPES = ["refund_bill", "return_bill"]
TRACE_STEPS = ["CREATE", "CONSIGN", "GOT", "DEPARTURE", "ARRIVAL", "SENT_CITY", "SENT_SCAN"]
PAY_DELAYS = [0, 0, 1, 5, 60, 7200]  # seconds from create to pay: often the same second


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

    def plus(self, other: "FeedStats") -> "FeedStats":
        return FeedStats(self.deliveries + other.deliveries, self.lines + other.lines, self.events + other.events,
                         self.malformed + other.malformed)


def seller_nick(index: int) -> str:
    """The nick of the index-th simulated seller (masked, emoji and quoted shop names included)."""
    return f"{SHOPS[index % len(SHOPS)]}{index + 1}"


class _Clock:
    """Times are float seconds since 1970-01-01 00:00 of the platform's wall clock (China time, no zone, as the
    feed writes them): adding seconds to a float and formatting through two lookup tables is several times
    cheaper than datetime + timedelta + isoformat, and this runs a few times per event."""

    HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def text(self, t: float) -> str:
        """``YYYY-MM-DD HH:MM:SS`` (seconds truncated, like ``isoformat(" ", "seconds")``)."""
        day, second = divmod(int(t), 86400)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = (WALL_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ")
        return prefix + self.HMS[second]


def _seconds(day: str) -> float:
    return (datetime.strptime(day, "%Y-%m-%d") - WALL_EPOCH).total_seconds()


HOUR, MINUTE = 3600.0, 60.0
CHINA_OFFSET = 8 * 3600  # the wall clock above is UTC+8; epoch milliseconds are UTC


class _Feed:
    """The events of one shard of the feed: every shard has the same sellers; shard 0 also has their items."""

    def __init__(self, cfg: FeedConfig, shard: int = 0, shards: int = 1):
        self.cfg, self.shard, self.shards = cfg, shard, shards
        self.rng = random.Random(f"{cfg.seed}-{shard}")
        # random.randint/randrange/choice/uniform are Python functions around rng.random(); inlined below they
        # cost a fifth, and this is the simulator's hot loop (a few draws per event).
        self.random = self.rng.random
        self.clock = _Clock()
        self.events: list[tuple[float, int, str, dict, int, str]] = []  # (time, seq, topic, content, user_id, nick)
        self.seq = 0

    def randint(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, seq: list):
        return seq[int(self.random() * len(seq))]

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    # ids: mostly above 2^53, a few near 2^63-1, a few small
    def big_id(self) -> int:
        roll = self.random()
        if roll < 0.02:
            return (1 << 63) - 1 - self.rng.getrandbits(20)
        if roll < 0.1:
            return 10**11 + int(self.random() * (10**15 - 10**11))
        return (1 << 53) | self.rng.getrandbits(61)

    def small_id(self) -> int:
        return 10**11 + int(self.random() * 9 * 10**11)

    def money(self, low: float = 5, high: float = 3000) -> str:
        return "%.2f" % (low + (high - low) * self.random())

    def emit(self, when: float, topic: str, content: dict, seller: dict) -> None:
        self.seq += 1
        self.events.append((when, self.seq, topic, content, seller["user_id"], seller["nick"]))

    def build(self) -> None:
        cfg, rng = self.cfg, self.rng
        start = _seconds(cfg.start)
        span = max(cfg.days, 1) * 86400
        seller_rng = random.Random(f"{cfg.seed}-sellers")
        sellers = [{"nick": seller_nick(i), "user_id": seller_rng.randrange(10**8, 4 * 10**9), "items": []}
                   for i in range(max(cfg.sellers, 1))]
        if self.shard == 0:
            for seller in sellers:
                for _ in range(rng.randint(5, 12)):
                    seller["items"].append(self.item_lifecycle(seller, start + int(self.random() * span)))
        orders = cfg.orders // self.shards + (1 if self.shard < cfg.orders % self.shards else 0)
        for _ in range(orders):
            seller = self.pick(sellers)
            created = start + int(self.random() * span)
            if self.random() < 0.05:
                self.fenxiao_order(seller, created)
            else:
                self.order(seller, created)

    def item_lifecycle(self, seller: dict, at: float) -> int:
        randint, random_ = self.randint, self.random
        num_iid = self.small_id()
        price, qty = self.money(), randint(10, 500)
        base = {"num_iid": num_iid, "nick": seller["nick"]}
        self.emit(at, "taobao_item_ItemAdd", {**base, "title": self.pick(TITLES), "price": price, "num": qty}, seller)
        at += randint(0, 600)
        self.emit(at, "taobao_item_ItemUpshelf", {**base, "price": price}, seller)
        for _ in range(randint(0, 4)):
            at += randint(1, 600) * MINUTE
            kind = random_()
            if kind < 0.4:
                price = self.money()
                self.emit(at, "taobao_item_ItemUpdate", {**base, "price": price, "changed_fields": "price"}, seller)
            elif kind < 0.8:
                qty = randint(0, 800)
                sku = {"sku_id": self.big_id(), "sku_num": randint(0, 50)} if random_() < 0.5 else {}
                self.emit(at, "taobao_item_ItemStockChanged",
                          {**base, "num": str(qty) if random_() < 0.2 else qty, **sku, "changed_fields": "num,sku"}, seller)
            else:
                self.emit(at, "taobao_item_ItemZeroStock", {**base, "num": 0}, seller)
        if random_() < 0.3:
            at += randint(1, 48) * HOUR
            self.emit(at, "taobao_item_ItemDownshelf", {"num_iid": num_iid}, seller)
            if random_() < 0.3:
                at += randint(1, 48) * HOUR
                self.emit(at, "taobao_item_ItemDelete", {**base}, seller)
        return num_iid

    def order(self, seller: dict, at: float) -> None:
        rng, random_, randint, uniform = self.rng, self.random, self.randint, self.uniform
        tid = self.big_id()
        oid = tid if random_() < 0.7 else tid + randint(1, 9)
        buyer = self.pick(BUYERS) + (str(randint(1, 99999)) if random_() < 0.6 else "")
        open_uid = "AAH" + "".join(rng.choices("abcdefghijkLMNOPQ0123456789", k=21)) if random_() < 0.4 else None
        ttype = self.pick(TRADE_TYPES)
        payment = self.money()
        base = {"tid": tid, "oid": oid, "buyer_nick": buyer, "seller_nick": seller["nick"], "type": ttype}
        if open_uid:
            base["buyer_open_uid"] = open_uid
        if random_() < 0.05:  # ids sometimes arrive as digit strings
            base["tid"] = str(tid)
        emit = self.emit

        def trade(topic: str, status: str | None, **extra) -> None:
            content = {**base, "payment": payment, **extra}
            if status is not None:
                content["status"] = status
            emit(at, "taobao_trade_" + topic, content, seller)

        trade("TradeCreate", "WAIT_BUYER_PAY")
        if random_() < 0.1:
            payment = self.money()
            trade("TradeModifyFee", "WAIT_BUYER_PAY")
        if random_() < 0.08:  # cancelled before payment
            at += randint(5, 3000) * MINUTE
            trade("TradeClose", "TRADE_CLOSED_BY_TAOBAO")
            return
        if random_() < 0.5:
            at += randint(0, 2)
            trade("TradeAlipayCreate", "WAIT_BUYER_PAY")
        at += self.pick(PAY_DELAYS)  # often the same second as the create
        trade("TradeBuyerPay", None if random_() < 0.6 else "WAIT_SELLER_SEND_GOODS")
        if random_() < 0.15:
            at += randint(1, 300) * MINUTE
            trade("TradeMemoModified", None, action_type="seller", seller_memo="加急 🚚", seller_flag=1)
        if random_() < 0.05:  # refunded before shipment
            self.refund(seller, base, payment, at + randint(5, 600) * MINUTE, "onsale", full=True)
            return
        at += uniform(0.5, 60) * HOUR
        trade("TradeSellerShip", "WAIT_BUYER_CONFIRM_GOODS")
        signed_at = self.logistics(seller, tid, at)
        end = (signed_at or at) + uniform(1, 120) * HOUR
        if random_() < 0.12:
            full = random_() < 0.6
            self.refund(seller, base, payment, (signed_at or at) + uniform(1, 48) * HOUR, "aftersale", full=full)
            if full:
                return
        at = end
        trade("TradeSuccess", "TRADE_FINISHED")
        if random_() < 0.4:
            at += uniform(1, 72) * HOUR
            trade("TradeRated", "TRADE_FINISHED", rater="buyer", iid=self.small_id())
            if random_() < 0.3:
                self.impression(seller, tid, oid, at + randint(0, 30) * MINUTE)

    def refund(self, seller: dict, base: dict, payment: str, at: float, phase: str, full: bool) -> None:
        random_, uniform, text = self.random, self.uniform, self.clock.text
        refund_id = self.big_id()
        fee = payment if full else "%.2f" % (float(payment) * uniform(0.1, 0.9))
        content = {"refund_id": refund_id, "tid": base["tid"], "oid": base["oid"], "buyer_nick": base["buyer_nick"],
                   "seller_nick": seller["nick"], "refund_fee": fee, "refund_phase": phase,
                   "bill_type": "refund_bill" if phase == "onsale" else self.pick(BILL_TYPES)}

        def step(topic: str) -> None:
            self.emit(at, "taobao_refund_" + topic, {**content, "modified": text(at)}, seller)

        step("RefundCreated")
        if random_() < 0.15:
            at += uniform(0.1, 10) * HOUR
            step("RefundBuyerModifyAgreement")
        if random_() < 0.1:
            at += self.randint(1, 90) * MINUTE
            step("RefundCreateMessage")
        at += uniform(0.1, 30) * HOUR
        if random_() < 0.15:
            step("RefundSellerRefuseAgreement")
            at += uniform(1, 40) * HOUR
            step("RefundClosed")
            return
        step("RefundSellerAgreeAgreement")
        if content["bill_type"] == "return_bill":
            at += uniform(1, 48) * HOUR
            step("RefundBuyerReturnGoods")
        at += uniform(0.5, 48) * HOUR
        if random_() < 0.1:
            step("RefundClosed")
            return
        step("RefundSuccess")
        if full:
            at += self.randint(0, 5)
            self.emit(at, "taobao_trade_TradeClose", {"tid": base["tid"], "oid": base["oid"], "buyer_nick": base["buyer_nick"],
                      "seller_nick": seller["nick"], "type": base["type"], "status": "TRADE_CLOSED"}, seller)

    def logistics(self, seller: dict, tid: int, at: float) -> float | None:
        random_, randint, text, emit = self.random, self.randint, self.clock.text, self.emit
        company = self.pick(COMPANIES)
        out_sid = f"{company[:1]}{self.small_id()}" if random_() < 0.97 else None
        final = "FAILED" if random_() < 0.05 else "SIGNED"
        trace = at - randint(1, 90) * MINUTE
        signed = None
        for action in TRACE_STEPS[: randint(3, len(TRACE_STEPS))] + [final]:
            trace += randint(10, 900) * MINUTE
            content = {"tid": tid, "action": action, "desc": f"【{company}】{action} 快件已处理", "company_name": company,
                       "time": text(trace) if random_() >= 0.05 else int((trace - CHINA_OFFSET) * 1000)}  # some epoch ms
            if out_sid:
                content["out_sid"] = out_sid
            emit(trace + randint(0, 240), "taobao_logistics_LogsticDetailTrace", content, seller)
            if action == "SIGNED":
                signed = trace
        return signed

    def impression(self, seller: dict, tid: int, oid: int, at: float) -> None:
        rng = self.rng
        words = rng.sample(IMPRESSIONS, self.randint(1, 3))
        if self.random() < 0.1:
            words.append("坏条目")  # malformed item: skipped by the warehouse
        impr = words if self.random() < 0.1 else ";".join(words)
        self.emit(at, "taobao_traderate_ImprBadTag", {"tid": tid, "oid": oid, "num_iid": self.small_id(),
                  "seller_nick": seller["nick"], "biz_type": self.pick([0, 3]), "feedback": "东西一般般，起球",
                  "impr_words": impr, "gmt_modified": self.clock.text(at)}, seller)

    def fenxiao_order(self, seller: dict, at: float) -> None:
        fenxiao_id, sub_order_id = self.small_id(), self.small_id()
        base = {"fenxiao_id": str(fenxiao_id) if self.random() < 0.3 else fenxiao_id, "sub_order_id": sub_order_id,
                "tc_order_id": self.big_id(), "supplier_username": seller["nick"],
                "distributor_username": f"分销商{self.randint(1, 40)}", "trade_type": self.pick(["AGENT", "DEALER"]),
                "distributor_payment": self.money()}
        for topic in ["FxOrderCreate", "FxOrderPaid", "FxOrderShipped", "FxOrderSuccess"][: self.randint(1, 4)]:
            self.emit(at, "taobao_fenxiao_" + topic, base, seller)
            at += self.uniform(0.1, 30) * HOUR

    def unmodelled(self, at: float, seller: dict) -> None:
        topic = self.pick(["taobao_fuwu_OrderPaid", "taobao_oc_TradeTagChanged", "taobao_logistics_Accept"])
        self.emit(at, topic, {"tid": self.big_id(), "seller_nick": seller["nick"], "tag_name": "vip"}, seller)


def _malformed(rng: random.Random, pub: str) -> tuple[str, bytes]:
    """One delivery body for each quarantine reason of the contract, drawn at random."""
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


QUEUES = 4  # the topic's queues
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


def _render_shard(cfg: FeedConfig, shard: int, shards: int) -> "_ShardLines":
    # Millions of small dicts and no reference cycles: the cyclic collector would rescan them all, again and again.
    gc.disable()
    try:
        feed = _Feed(cfg, shard, shards)
        feed.build()
        lines = _ShardLines(feed)
        lines.render()
        return lines
    finally:
        gc.enable()


def _json_string(document: bytes) -> bytes:
    """orjson output as a JSON string literal: it has no raw control characters, so only backslashes and quotes
    need escaping (two C-level replaces, byte-identical to ``orjson.dumps(document.decode())``)."""
    return b'"' + document.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


ENVELOPE = b'{"content":%s,"id":%d,"pub_app_key":"12497914","pub_time":"%s","topic":"%s","user_id":%s,"user_nick":%s}'
DELIVERY = b'{"queue_id":%d,"queue_offset":%d,"msg_id":"%032X","topic":"jushita_sync_12497914","tags":"%s",' \
           b'"keys":null,"born_timestamp":%d,"reconsume_times":%d,%s}\n'


class _ShardLines:
    """A shard's events rendered as replay lines in arrival order, with the delivery effects of a real queue.

    Envelopes and lines are byte templates: orjson renders only the content objects (see ``_json_string``).
    Each shard publishes to its own queues (queue % shards == shard), as a producer sharding by order would, so
    queue offsets follow arrival order without a pass over the merged feed.
    """

    def __init__(self, feed: _Feed):
        self.feed, self.cfg = feed, feed.cfg
        self.arrivals: list[float] = []
        self.lines: list[bytes] = []
        self.deliveries = self.events = self.malformed = 0
        self.queues = [q for q in range(QUEUES) if q % feed.shards == feed.shard]
        self.offsets = [0] * QUEUES
        self.nick_json: dict[str, bytes] = {}

    def stats(self) -> FeedStats:
        return FeedStats(deliveries=self.deliveries, lines=len(self.lines), events=self.events, malformed=self.malformed)

    def deliver(self, arrival: float, payload: bytes, tags: bytes, born: int, msg_id: int, reconsume: int = 0) -> None:
        queue = self.queues[int(self.feed.random() * len(self.queues))]
        self.arrivals.append(arrival)
        self.lines.append(DELIVERY % (queue, self.offsets[queue], msg_id, tags, born, reconsume, payload))
        self.offsets[queue] += 1

    def envelope(self, content: dict, message_id: int, pub_time: str, topic: str, user_id: bytes, nick: str) -> bytes:
        quoted_nick = self.nick_json.get(nick)
        if quoted_nick is None:
            quoted_nick = self.nick_json[nick] = orjson.dumps(nick)
        content_json = orjson.dumps(content)
        # The platform sends content as a JSON string; a few producers embed the object itself.
        if self.feed.random() < 0.95:
            content_json = _json_string(content_json)
        return ENVELOPE % (content_json, message_id, pub_time.encode(), topic.encode(), user_id, quoted_nick)

    @staticmethod
    def body(envelope: bytes) -> bytes:
        return b'"body":' + _json_string(envelope)

    @staticmethod
    def any_body(raw: bytes) -> bytes:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return b'"body_base64":"' + base64.b64encode(raw) + b'"'
        return _ShardLines.body(raw)

    def render(self) -> None:
        feed, cfg = self.feed, self.cfg
        rng, random_, text = feed.rng, feed.random, feed.clock.text
        getrandbits, deliver, envelope, body = rng.getrandbits, self.deliver, self.envelope, self.body
        events = feed.events
        events.sort()  # (time, seq, ...): seq is unique, so the content dicts are never compared
        # Arrival order: mostly publish order, with local swaps and a few days-late stragglers.
        late, swapped = cfg.late_rate, cfg.late_rate + cfg.out_of_order_rate
        arrival: list[tuple[float, int]] = []
        for i, ev in enumerate(events):
            key = ev[0]
            roll = random_()
            if roll < late:
                key += (1 + 3 * random_()) * 86400
            elif roll < swapped:
                key += 1 + 599 * random_()
            arrival.append((key, i))
        arrival.sort()
        self.events = len(arrival)
        redeliveries: list[tuple[bytes, bytes, int, int]] = []
        for arrive_key, i in arrival:
            when, _seq, topic, content, user_id, nick = events[i]
            pub_time = text(when)
            payload = body(envelope(content, (1 << 60) | getrandbits(62), pub_time, topic,
                                    b"%d" % user_id if random_() < 0.95 else b'"%d"' % user_id, nick))
            tags = topic.encode()
            born = int((arrive_key - CHINA_OFFSET) * 1000)  # epoch ms; the simulated clock is China wall time
            msg_id = getrandbits(128)
            deliver(arrive_key, payload, tags, born, msg_id)
            self.deliveries += 1
            if random_() < cfg.redelivery_rate:  # the broker delivers the same msg_id again, a little later
                redeliveries.append((payload, tags, born, msg_id))
            if random_() < cfg.duplicate_rate:  # the platform publishes the same message again
                deliver(arrive_key, payload, tags, born + feed.randint(1000, 600000), getrandbits(128))
                self.deliveries += 1
            if random_() < cfg.malformed_rate:
                bad_tags, bad = _malformed(rng, pub_time)
                deliver(arrive_key, self.any_body(bad), bad_tags.encode(), born, getrandbits(128))
                self.deliveries += 1
                self.malformed += 1
            if random_() < cfg.unmodelled_rate:
                feed.unmodelled(when, {"nick": nick, "user_id": user_id})
                _w, _s, utopic, ucontent, _u, _n = events.pop()
                ubody = envelope(ucontent, rng.randrange(1 << 60, 1 << 62), pub_time, utopic, b"%d" % user_id, nick)
                deliver(arrive_key, body(ubody), utopic.encode(), born, getrandbits(128))
                self.deliveries += 1
            if redeliveries and random_() < 0.2:
                deliver(arrive_key, *redeliveries.pop(0), feed.randint(1, 3))
        last = arrival[-1][0] if arrival else 0.0
        for redelivery in redeliveries:
            deliver(last, *redelivery, feed.randint(1, 3))
