"""The business events of a simulated Jushita feed (``jushita-messages.md``), before any delivery effect.

Per seller: an item catalogue with its lifecycle; orders from creation through payment, memo, shipment,
logistics traces, success or close, refunds with their own lifecycle (and the trade close that follows a full
refund), ratings with negative impressions, distribution orders, and a few unmodelled topics; and one malformed
delivery body per quarantine reason. ``feed.py`` turns a shard's events into replay lines.

Long because: one seeded generator draws every seller's lifecycles in a fixed order (the same seed gives the same
bytes), and each lifecycle reads the state the previous ones left.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

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


class ShardEvents:
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


def malformed_delivery(rng: random.Random, pub: str) -> tuple[str, bytes]:
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
