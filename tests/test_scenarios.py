"""The business-scenario tables of contract v2 §6, on hand-written deliveries, through the real Dagster build: the
watermark and the thresholds, which alert wins, the refund interception conditions, keyword dimensions, item
versions and distributor days; incremental refreshes equal one build; the thresholds are settings."""

from datetime import datetime
from decimal import Decimal

import dagster as dg
import pytest
from support import built_once, delivery, envelope, land_and_build

import jushita_etl
from jushita_etl.warehouse import db, scenarios

L = "taobao_logistics_LogsticDetailTrace"
W = "2026-11-20 12:00:00"  # the watermark: the newest pub_time of every event table


def trace(tid, out_sid, action, time, id):
    return delivery(envelope(L, {"tid": tid, "out_sid": out_sid, "action": action, "desc": action.lower(),
                                 "time": time, "company_name": "顺丰"}, id=id, pub_time=time))


def trade(event, tid, pub_time, id, **content):
    return delivery(envelope("taobao_trade_" + event, {"tid": tid, "seller_nick": "店", "buyer_nick": f"b{tid}", **content},
                             id=id, pub_time=pub_time))


def refund(event, refund_id, tid, pub_time, id):
    return delivery(envelope("taobao_refund_" + event, {"refund_id": refund_id, "tid": tid, "refund_fee": "9.50"},
                             id=id, pub_time=pub_time))


def corpus():
    rows = [trade("TradeChanged", 9999, W, 1)]  # sets W
    rows += [trace(101, "A", "CONSIGN", "2026-11-19 11:00:00", 11), trace(101, "A", "FAILED", "2026-11-20 10:00:00", 12)]
    rows += [trace(102, "B", "GOT", "2026-11-17 12:00:00", 21), trace(102, "B", "SENT_SCAN", "2026-11-19 11:59:59", 22)]
    rows += [trace(103, "C", "SENT_SCAN", "2026-11-19 12:00:00", 31)]  # exactly 24 h: not more than the threshold
    rows += [trace(104, "D", "GOT", "2026-11-17 00:00:00", 41), trace(104, "D", "ARRIVAL", "2026-11-18 11:00:00", 42)]
    rows += [trace(105, "E", "CONSIGN", "2026-11-19 00:00:00", 51)]
    rows += [trace(106, "F", "GOT", "2026-11-17 00:00:00", 61), trace(106, "F", "SIGNED", "2026-11-18 00:00:00", 62)]
    rows += [trade("TradeBuyerPay", 201, "2026-11-17 12:00:00", 71),  # paid 72 h ago, never shipped
             trade("TradeBuyerPay", 202, "2026-11-19 12:00:00", 72),  # 24 h: not yet late
             trade("TradeBuyerPay", 203, "2026-11-17 12:00:00", 73),
             trade("TradeSellerShip", 203, "2026-11-18 12:00:00", 74)]
    rows += [refund("RefundCreated", 301, 104, "2026-11-20 00:00:00", 81),  # parcel D unsigned: interceptable
             refund("RefundCreated", 302, 106, "2026-11-20 00:00:00", 82),  # signed
             refund("RefundCreated", 303, 201, "2026-11-20 00:00:00", 83),  # never shipped
             refund("RefundCreated", 304, 104, "2026-11-19 00:00:00", 84),
             refund("RefundClosed", 304, 104, "2026-11-19 01:00:00", 85)]  # closed
    G = "taobao_traderate_ImprBadTag"
    words = "物流-负面-太慢;客服-负面-态度差;尺码-负面-偏小"
    rows += [delivery(envelope(G, {"tid": tid, "num_iid": 501, "seller_nick": "店", "impr_words": words,
                                   "gmt_modified": f"2026-11-1{tid % 10} 10:00:00"}, id=90 + tid % 10))
             for tid in (401, 402)]
    I = "taobao_item_"
    rows += [
        delivery(envelope(I + "ItemAdd", {"num_iid": 501, "nick": "店", "title": "杯", "price": "10.00", "num": 5}, id=101, pub_time="2026-11-10 00:00:00")),
        delivery(envelope(I + "ItemUpdate", {"num_iid": 501, "title": "杯"}, id=102, pub_time="2026-11-11 00:00:00")),  # no change
        delivery(envelope(I + "ItemUpdate", {"num_iid": 501, "price": "12.00", "changed_fields": "price"}, id=103, pub_time="2026-11-12 00:00:00")),
        delivery(envelope(I + "ItemDownshelf", {"num_iid": 501}, id=104, pub_time="2026-11-13 00:00:00")),
    ]
    F = "taobao_fenxiao_"
    fx = {"supplier_username": "供应商", "distributor_username": "分销商"}
    rows += [
        delivery(envelope(F + "FxOrderCreate", {**fx, "fenxiao_id": 601}, id=111, pub_time="2026-11-15 09:00:00")),
        delivery(envelope(F + "FxOrderPaid", {**fx, "fenxiao_id": 601, "distributor_payment": "30.00"}, id=112, pub_time="2026-11-15 10:00:00")),
        delivery(envelope(F + "FxOrderPaid", {**fx, "sub_order_id": 602, "distributor_payment": "20.50"}, id=113, pub_time="2026-11-15 11:00:00")),
        delivery(envelope(F + "FxRefundSuccess", {**fx, "fenxiao_id": 601, "refund_fee": "5.00"}, id=114, pub_time="2026-11-15 12:00:00")),
        delivery(envelope(F + "FxOrderPaid", {**fx, "fenxiao_id": 603, "distributor_payment": "1.00"}, id=115, pub_time="2026-11-16 10:00:00")),
    ]
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_once(tmp_path_factory, "scenarios", corpus())


@pytest.fixture(scope="module")
def wh(built):
    conn = jushita_etl.connect(built.data_dir)
    yield conn
    conn.close()


def test_shipment_alerts_first_condition_wins_and_thresholds_are_strict(wh):
    rows = wh.execute("SELECT alert_type, tid, out_sid, since, hours_open, as_of FROM shipment_alerts "
                      "ORDER BY tid").fetchall()
    w = datetime(2026, 11, 20, 12)
    assert rows == [
        ("delivery_failed", 101, "A", datetime(2026, 11, 20, 10), Decimal("2.0"), w),
        ("delivery_stalled", 102, "B", datetime(2026, 11, 19, 11, 59, 59), Decimal("24.0"), w),
        ("transport_stalled", 104, "D", datetime(2026, 11, 18, 11), Decimal("49.0"), w),
        ("pickup_delayed", 105, "E", datetime(2026, 11, 19), Decimal("36.0"), w),
        ("consign_delayed", 201, None, datetime(2026, 11, 17, 12), Decimal("72.0"), w),
    ]


def test_consign_delayed_carries_the_order_not_a_parcel(wh):
    row = wh.execute("SELECT seller_nick, buyer_nick, company_name, last_action FROM shipment_alerts "
                     "WHERE alert_type = 'consign_delayed'").fetchone()
    assert row == ("店", "b201", None, None)


def test_refund_interceptions_only_stoppable_parcels(wh):
    rows = wh.execute("SELECT refund_id, tid, refund_status, out_sid, last_action, unsigned_parcels, hours_open, "
                      "refund_fee FROM refund_interceptions").fetchall()
    assert rows == [(301, 104, "WAIT_SELLER_AGREE", "D", "ARRIVAL", 1, Decimal("12.0"), Decimal("9.50"))]


def test_rating_keywords_dimensions_and_counts(wh):
    rows = wh.execute("SELECT category, phrase, dimension, mentions, orders, first_seen, last_seen FROM rating_keywords "
                      "ORDER BY category").fetchall()
    first, last = datetime(2026, 11, 11, 10), datetime(2026, 11, 12, 10)
    assert sorted(rows) == sorted([
        ("物流", "太慢", "logistics", 2, 2, first, last),
        ("客服", "态度差", "service", 2, 2, first, last),
        ("尺码", "偏小", "item", 2, 2, first, last),
    ])


def test_item_history_opens_a_version_per_change(wh):
    rows = wh.execute("SELECT version, valid_from, valid_to, is_current, price, status, event_type FROM item_history "
                      "WHERE num_iid = 501 ORDER BY version").fetchall()
    assert rows == [
        (1, datetime(2026, 11, 10), datetime(2026, 11, 12), False, Decimal("10.00"), "onsale", "ItemAdd"),
        (2, datetime(2026, 11, 12), datetime(2026, 11, 13), False, Decimal("12.00"), "onsale", "ItemUpdate"),
        (3, datetime(2026, 11, 13), None, True, Decimal("12.00"), "instock", "ItemDownshelf"),
    ]
    current = wh.execute("SELECT price, status, title FROM item_history WHERE num_iid = 501 AND is_current").fetchone()
    assert current == wh.execute("SELECT price, status, title FROM dim_items WHERE num_iid = 501").fetchone()


def test_distributor_daily_counts_orders_and_sums_amounts(wh):
    rows = wh.execute("SELECT event_date::VARCHAR, orders_created, orders_paid, paid_amount, refunds_succeeded, "
                      "refund_amount, events FROM distributor_daily ORDER BY event_date").fetchall()
    assert rows == [
        ("2026-11-15", 1, 2, Decimal("50.50"), 1, Decimal("5.00"), 4),
        ("2026-11-16", 0, 1, Decimal("1.00"), 0, Decimal("0.00"), 1),
    ]


SCENARIO_TABLES = [t.name for t in scenarios.SCENARIO_TABLES]


def table_rows(conn, table):
    return sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))


def test_arrivals_in_chunks_equal_one_build(tmp_path, instance, wh):
    """The incremental refresh (groups of the new events, alerts recomputed) equals building everything at once,
    whatever the arrival order: here the corpus arrives reversed, in three builds."""
    rows = list(reversed(corpus()))
    data = tmp_path / "data"
    for i, chunk in enumerate((rows[:10], rows[10:25], rows[25:])):
        built = land_and_build(data, chunk, instance, name=f"chunk{i}.jsonl")
    conn = jushita_etl.connect(built.data_dir)
    try:
        for table in SCENARIO_TABLES:
            assert table_rows(conn, table) == table_rows(wh, table), table
    finally:
        conn.close()


def test_thresholds_are_settings(built, monkeypatch):
    monkeypatch.setenv("JUSHITA_ALERT_PICKUP_HOURS", "40")  # parcel E has waited 36 h for pickup
    monkeypatch.setenv("JUSHITA_ALERT_CONSIGN_HOURS", "100")
    alerts = next(t for t in scenarios.SCENARIO_TABLES if t.name == "shipment_alerts")
    with db.writer(built) as conn:
        scenarios.refresh(conn, alerts)
        types = {row[0] for row in conn.execute("SELECT alert_type FROM shipment_alerts").fetchall()}
    assert types == {"delivery_failed", "delivery_stalled", "transport_stalled"}


def test_alert_volume_warns_on_growth_not_on_a_first_build():
    from jushita_etl.defs.scenarios.checks import ALERT_GROWTH_WARN, alert_volume

    assert alert_volume("shipment_alerts", 0, 500).passed  # a first build is no growth
    assert alert_volume("shipment_alerts", 100, 100 + int(100 * ALERT_GROWTH_WARN)).passed
    grown = alert_volume("shipment_alerts", 100, 101 + int(100 * ALERT_GROWTH_WARN))
    assert not grown.passed and grown.severity == dg.AssetCheckSeverity.WARN
