"""Each rule of the warehouse contract, on hand-written deliveries, through the real Dagster build."""

import json
from datetime import datetime
from decimal import Decimal

import pytest
from support import built_once, delivery, envelope

MAX = 2**63 - 1
T = "taobao_trade_"


def trade(event, tid, pub_time, id, **content):
    return delivery(envelope(T + event, {"tid": tid, **content}, id=id, pub_time=pub_time))


def corpus():
    rows = []
    # Ordering ties: three events of tid 1001 in one second; rank beats message_id.
    rows += [
        trade("TradeSellerShip", 1001, "2026-11-11 10:00:00", 3, status="WAIT_BUYER_CONFIRM_GOODS"),
        trade("TradeCreate", 1001, "2026-11-11 10:00:00", 5, status="WAIT_BUYER_PAY", payment="10.00",
              buyer_open_uid="AAHopen", seller_nick="卖家🔥\"q\"\\n"),
        trade("TradeMemoModified", 1001, "2026-11-11 10:00:00", 9, status="MEMO"),
    ]
    # Same rank ("other" 45) in the same second: message_id decides.
    rows += [
        trade("TradeChanged", 1002, "2026-11-11 11:00:00", 200, status="B"),
        trade("TradeMemoModified", 1002, "2026-11-11 11:00:00", 100, status="A"),
    ]
    # Latest non-null, pay without status, late arrival (success delivered first), money forms.
    rows += [
        trade("TradeSuccess", 1003, "2026-11-14 09:00:00", 31, status="TRADE_FINISHED"),
        trade("TradeCreate", 1003, "2026-11-10 23:59:59", 32, status="WAIT_BUYER_PAY", payment="12", buyer_nick="c**"),
        trade("TradeBuyerPay", 1003, "2026-11-11 00:00:01", 33, payment=12.5),
        trade("TradeModifyFee", 1003, "2026-11-11 00:00:02", 34, payment="1,799.00"),
    ]
    # ids near 2^63, as number and as string; oid as string of digits.
    rows += [trade("TradeCreate", MAX, "2026-11-11 12:00:00", MAX, oid=str(MAX - 1), payment="0.5")]
    rows += [trade("TradeCreate", str(MAX - 7), "2026-11-11 12:00:01", MAX - 1)]
    # Platform duplicate (same id, two msg_ids) and a broker redelivery (same msg_id twice).
    dup = envelope(T + "TradeCreate", {"tid": 1004}, id=4004, pub_time="2026-11-12 08:00:00")
    rows += [delivery(dup, msg_id="DUP-A", born=1), delivery(dup, msg_id="DUP-B", born=2)]
    rows += [delivery(dup, msg_id="DUP-A", born=1, reconsume=1)]
    # JSON whitespace around the body and around the content's object is still JSON.
    rows += [delivery("\n\t" + json.dumps(envelope(T + "TradeCreate", ' {"tid": 1006, "status": "WS"}\r\n', id=6006)) + "\r\n")]
    # Content given as an object, not as text.
    rows += [delivery(envelope(T + "TradeCreate", {"tid": 1005, "payment": "3.30"}, id=5005, content_as_text=False))]
    # Refunds: lifecycle, status, refunded amount on the order; modified time.
    R = "taobao_refund_"
    base = {"refund_id": 7001, "tid": 1003, "refund_fee": "5.25", "modified": "2026-11-12 10:00:00"}
    rows += [
        delivery(envelope(R + "RefundCreated", base, id=7101, pub_time="2026-11-12 10:00:00")),
        delivery(envelope(R + "RefundCreateMessage", {**base, "refund_fee": None}, id=7102, pub_time="2026-11-12 11:00:00")),
        delivery(envelope(R + "RefundSellerAgreeAgreement", base, id=7103, pub_time="2026-11-12 12:00:00")),
        delivery(envelope(R + "RefundSuccess", base, id=7104, pub_time="2026-11-12 12:00:00")),
        delivery(envelope(R + "RefundCreated", {**base, "refund_id": 7002, "refund_fee": "100"}, id=7105, pub_time="2026-11-12 10:00:00")),
    ]
    # Items: lifecycle status; "other" events do not change it.
    I = "taobao_item_"
    rows += [
        delivery(envelope(I + "ItemAdd", {"num_iid": 9001, "nick": "店", "title": "杯", "price": "9.90", "num": 5}, id=9101, pub_time="2026-11-11 01:00:00")),
        delivery(envelope(I + "ItemDownshelf", {"num_iid": 9001}, id=9102, pub_time="2026-11-11 02:00:00")),
        delivery(envelope(I + "ItemUpdate", {"num_iid": 9001, "nick": "店", "price": "8.80", "num": "7"}, id=9103, pub_time="2026-11-11 03:00:00")),
        delivery(envelope(I + "ItemDelete", {"num_iid": 9002, "nick": "店"}, id=9104, pub_time="2026-11-11 04:00:00")),
    ]
    # Logistics: epoch-ms trace time, missing out_sid, order by trace time not pub time, exceptions.
    L = "taobao_logistics_LogsticDetailTrace"
    ms = int((datetime(2026, 11, 11, 9, 30, 0) - datetime(1970, 1, 1, 8, 0, 0)).total_seconds() * 1000)
    rows += [
        delivery(envelope(L, {"tid": 1003, "out_sid": "SF1", "action": "SIGNED", "desc": "签收", "time": "2026-11-13 18:00:00", "company_name": "顺丰"}, id=8101, pub_time="2026-11-13 18:01:00")),
        delivery(envelope(L, {"tid": 1003, "out_sid": "SF1", "action": "CONSIGN", "desc": "发货", "time": ms}, id=8102, pub_time="2026-11-13 19:00:00")),
        delivery(envelope(L, {"tid": 1003, "out_sid": "SF1", "action": "FAILED", "desc": "拒收", "time": "2026-11-12 08:00:00"}, id=8103, pub_time="2026-11-12 08:00:00")),
        delivery(envelope(L, {"tid": 1003, "action": "CREATE", "desc": "无单号", "time": "bad time"}, id=8104, pub_time="2026-11-11 07:00:00")),
    ]
    # Ratings with impressions: string form with a malformed item and padding; JSON array form.
    G = "taobao_traderate_ImprBadTag"
    rows += [
        delivery(envelope(G, {"tid": 1003, "num_iid": 9001, "seller_nick": "店", "biz_type": 3, "impr_words": " 尺码 - 负面 - 偏小 ;坏条目;a--b;质量-负面-起球", "gmt_modified": "2026-11-15 10:00:00"}, id=6101)),
        delivery(envelope(G, {"tid": 1005, "impr_words": ["物流-负面-太慢", "x-y"]}, id=6102)),
    ]
    # Distribution: sub_order_id stands in for a missing fenxiao_id.
    rows += [delivery(envelope("taobao_fenxiao_FxRefundCreate", {"sub_order_id": 5555, "refund_fee": "1.10"}, id=5101))]
    # Unmodelled topics (a topic that reads like a JSON literal is still a string).
    rows += [delivery(envelope("taobao_fuwu_OrderPaid", {"x": 1}, id=3101)), delivery(envelope("true", {"x": 1}, id=3102))]
    # Every quarantine reason.
    good = {"tid": 1}
    rows += [
        delivery(b"\xff\xfebad", msg_id="Q-UTF8"),
        delivery("not json", msg_id="Q-NOTJSON"),
        delivery("[1,2]", msg_id="Q-ARRAY"),
        # shaped like an object but malformed: the parse that trusts the shape fails, the validating one quarantines
        delivery('{"id": 1 "topic": "taobao_trade_TradeCreate"}', msg_id="Q-OBJBROKEN"),
        delivery({k: v for k, v in envelope(T + "TradeCreate", good).items() if k != "id"}, msg_id="Q-NOID"),
        delivery(envelope(T + "TradeCreate", good, id="1.2e18"), msg_id="Q-IDTEXT"),
        delivery(envelope(T + "TradeCreate", good, id=1.5), msg_id="Q-IDFRAC"),
        delivery(envelope(T + "TradeCreate", good, id=2**63), msg_id="Q-IDBIG"),
        delivery(envelope(T + "TradeCreate", good, pub_time="2026/11/11 10:00:00"), msg_id="Q-PUBTIME"),
        delivery(envelope(T + "TradeCreate", good, pub_time="2026-02-30 10:00:00"), msg_id="Q-PUBDATE"),
        delivery(envelope("", good), msg_id="Q-TOPIC"),
        delivery(envelope(T + "TradeCreate", 42, content_as_text=False), msg_id="Q-CONTENTNUM"),
        delivery(envelope(T + "TradeCreate", "not json at all"), msg_id="Q-CONTENTTEXT"),
        delivery(envelope(T + "TradeCreate", "[1]"), msg_id="Q-CONTENTARRAY"),
        delivery(envelope(T + "TradeCreate", '{"tid": 7,, "status": "X"}'), msg_id="Q-CONTENTBROKEN"),
        delivery(envelope(T + "TradeCreate", {"status": "X"}), msg_id="Q-NOKEY"),
        delivery(envelope(T + "TradeCreate", {"tid": "12ab"}), msg_id="Q-KEYTEXT"),
        delivery(envelope(T + "TradeCreate", {"tid": 1.5}), msg_id="Q-KEYFRAC"),
        delivery(envelope("taobao_item_ItemAdd", {"num_iid": 99999999999999999999}), msg_id="Q-KEYBIG"),
        # a field's text alone does not tell a string from a literal: "5" from 5, "[1]" from [1], "true" from true
        delivery({**envelope(T + "TradeCreate", good), "topic": 5}, msg_id="Q-TOPICNUM"),
        delivery(envelope(T + "TradeCreate", [1], content_as_text=False), msg_id="Q-CONTENTLIST"),
        delivery(envelope(T + "TradeCreate", True, content_as_text=False), msg_id="Q-CONTENTTRUE"),
        delivery(envelope(T + "TradeCreate", None, content_as_text=False), msg_id="Q-CONTENTNULL"),
        delivery(envelope(T + "TradeCreate", "5"), msg_id="Q-CONTENTDIGITS"),
        delivery(envelope(T + "TradeCreate", "true"), msg_id="Q-CONTENTWORD"),
    ]
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_once(tmp_path_factory, "rules", corpus())


@pytest.fixture(scope="module")
def wh(built):
    """The published build, read-only, as analysts open it."""
    import jushita_etl

    conn = jushita_etl.connect(built.data_dir)
    yield conn
    conn.close()


def one(conn, query, *params):
    rows = conn.execute(query, list(params)).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_ordering_ties_rank_then_message_id(wh):
    assert one(wh, "SELECT status FROM fact_orders WHERE tid = 1001") == ("WAIT_BUYER_CONFIRM_GOODS",)
    assert one(wh, "SELECT status FROM fact_orders WHERE tid = 1002") == ("B",)


def test_latest_non_null_and_first_times(wh):
    row = one(wh, "SELECT status, payment, buyer_nick, buyer_open_uid, created_at, paid_at, finished_at, event_count, "
                  "first_event_at, last_event_at FROM fact_orders WHERE tid = 1003")
    # "1,799.00" is invalid money: NULL on that event, so the latest non-null payment is the pay event's 12.5
    assert row[0] == "TRADE_FINISHED"
    assert row[1] == Decimal("12.50")
    assert row[2] == "c**" and row[3] is None
    assert row[4] == datetime(2026, 11, 10, 23, 59, 59)
    assert row[5] == datetime(2026, 11, 11, 0, 0, 1)
    assert row[6] == datetime(2026, 11, 14, 9, 0, 0)
    assert row[7] == 4
    assert (row[8], row[9]) == (datetime(2026, 11, 10, 23, 59, 59), datetime(2026, 11, 14, 9, 0, 0))
    assert one(wh, "SELECT buyer_open_uid, seller_nick FROM fact_orders WHERE tid = 1001") == ("AAHopen", "卖家🔥\"q\"\\n")


def test_events_keep_invalid_optional_fields_as_null(wh):
    assert one(wh, "SELECT payment FROM trade_events WHERE message_id = 34") == (None,)
    assert one(wh, "SELECT event_type, event_date FROM trade_events WHERE message_id = 32")[0] == "TradeCreate"


def test_exact_64_bit_ids(wh):
    assert one(wh, "SELECT tid, oid, payment FROM trade_events WHERE message_id = ?", 2**63 - 1) == (2**63 - 1, 2**63 - 2, Decimal("0.50"))
    assert one(wh, "SELECT tid FROM trade_events WHERE message_id = ?", 2**63 - 2) == (2**63 - 8,)
    types = dict(wh.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'trade_events'").fetchall())
    assert types["message_id"] == "BIGINT" and types["payment"] == "DECIMAL(18,2)" and types["pub_time"] == "TIMESTAMP"


def test_duplicates_one_row_per_message(wh):
    assert one(wh, "SELECT count(*) FROM trade_events WHERE message_id = 4004") == (1,)
    assert one(wh, "SELECT count(*), count(DISTINCT mq_msg_id) FROM raw_messages WHERE mq_msg_id LIKE 'DUP-%'") == (3, 2)


def test_content_object_accepted_and_kept_complete(wh):
    content, payment = one(wh, "SELECT content, payment FROM trade_events WHERE message_id = 5005")
    assert payment == Decimal("3.30") and '"payment"' in content


def test_refund_lifecycle_and_refunded_amount(wh):
    row = one(wh, "SELECT status, refund_fee, created_at, agreed_at, succeeded_at, event_count FROM fact_refunds WHERE refund_id = 7001")
    assert row == ("SUCCESS", Decimal("5.25"), datetime(2026, 11, 12, 10), datetime(2026, 11, 12, 12), datetime(2026, 11, 12, 12), 4)
    assert one(wh, "SELECT status FROM fact_refunds WHERE refund_id = 7002") == ("WAIT_SELLER_AGREE",)
    assert one(wh, "SELECT refunded_amount FROM fact_orders WHERE tid = 1003") == (Decimal("5.25"),)
    assert one(wh, "SELECT refunded_amount FROM fact_orders WHERE tid = 1001") == (Decimal("0.00"),)
    assert one(wh, "SELECT modified FROM refund_events WHERE message_id = 7101") == (datetime(2026, 11, 12, 10),)


def test_item_status_from_lifecycle_events_only(wh):
    assert one(wh, "SELECT status, price, quantity, title, event_count FROM dim_items WHERE num_iid = 9001") == (
        "instock", Decimal("8.80"), 7, "杯", 3)
    assert one(wh, "SELECT status, deleted_at FROM dim_items WHERE num_iid = 9002") == ("deleted", datetime(2026, 11, 11, 4))


def test_shipments(wh):
    row = one(wh, "SELECT company_name, last_action, consigned_at, signed_at, first_trace_at, last_trace_at, "
                  "exception_count, trace_count FROM fact_shipments WHERE tid = 1003 AND out_sid = 'SF1'")
    assert row == ("顺丰", "SIGNED", datetime(2026, 11, 11, 9, 30), datetime(2026, 11, 13, 18), datetime(2026, 11, 11, 9, 30),
                   datetime(2026, 11, 13, 18), 1, 3)
    # no out_sid -> '', and an invalid trace time falls back to pub_time for ordering
    assert one(wh, "SELECT last_action, first_trace_at FROM fact_shipments WHERE tid = 1003 AND out_sid = ''") == (
        "CREATE", datetime(2026, 11, 11, 7))


def test_rating_impressions(wh):
    rows = wh.execute("SELECT message_id, category, polarity, phrase FROM fact_rating_impressions ORDER BY message_id, phrase").fetchall()
    assert rows == [(6101, "尺码", "负面", "偏小"), (6101, "质量", "负面", "起球"), (6102, "物流", "负面", "太慢")]


def test_fenxiao_key_falls_back_to_sub_order_id(wh):
    assert one(wh, "SELECT fenxiao_id, sub_order_id, refund_fee FROM fenxiao_events WHERE message_id = 5101") == (None, 5555, Decimal("1.10"))


QUARANTINE = {
    "Q-UTF8": "body_not_json", "Q-NOTJSON": "body_not_json", "Q-ARRAY": "body_not_json", "Q-OBJBROKEN": "body_not_json",
    "Q-CONTENTBROKEN": "content_not_json",
    "Q-NOID": "envelope_invalid", "Q-IDTEXT": "envelope_invalid", "Q-IDFRAC": "envelope_invalid", "Q-IDBIG": "envelope_invalid",
    "Q-PUBTIME": "envelope_invalid", "Q-PUBDATE": "envelope_invalid", "Q-TOPIC": "envelope_invalid",
    "Q-CONTENTNUM": "envelope_invalid", "Q-CONTENTTEXT": "content_not_json", "Q-CONTENTARRAY": "content_not_json",
    "Q-NOKEY": "missing_key", "Q-KEYTEXT": "missing_key", "Q-KEYFRAC": "missing_key", "Q-KEYBIG": "missing_key",
    "Q-TOPICNUM": "envelope_invalid", "Q-CONTENTLIST": "envelope_invalid", "Q-CONTENTTRUE": "envelope_invalid",
    "Q-CONTENTNULL": "envelope_invalid", "Q-CONTENTDIGITS": "content_not_json", "Q-CONTENTWORD": "content_not_json",
}


def test_json_whitespace_around_body_and_content_is_json(wh):
    assert one(wh, "SELECT tid, status FROM trade_events WHERE message_id = 6006") == (1006, "WS")


def test_every_quarantine_reason(wh):
    rows = dict(wh.execute("SELECT mq_msg_id, reason FROM quarantine").fetchall())
    assert rows == QUARANTINE
    body, detail = one(wh, "SELECT body, detail FROM quarantine WHERE mq_msg_id = 'Q-UTF8'")
    assert body == "\ufffd\ufffdbad" and "UTF-8" in detail
    assert one(wh, "SELECT message_id, topic FROM quarantine WHERE mq_msg_id = 'Q-NOKEY'")[1] == "taobao_trade_TradeCreate"
    assert one(wh, "SELECT message_id FROM quarantine WHERE mq_msg_id = 'Q-IDTEXT'") == (None,)
    assert one(wh, "SELECT topic FROM quarantine WHERE mq_msg_id = 'Q-TOPICNUM'") == (None,)  # not a string: no topic


def test_reconciliation_holds(built):
    from jushita_etl.warehouse import db
    from jushita_etl.warehouse.steps import reconcile

    with db.writer(built) as conn:  # on the writer's latest state
        rec = reconcile(conn)
    assert rec.holds, rec.line()
    assert rec.quarantined == len(QUARANTINE) and rec.unmodelled == 2 and rec.duplicates == 1
    published = db.reader(built)  # and on the published snapshot analysts read (its bookkeeping included)
    try:
        assert reconcile(published) == rec
    finally:
        published.close()
