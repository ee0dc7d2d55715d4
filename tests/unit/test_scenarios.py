"""The business-scenario tables of contract §6, refreshed from the facts and events by the build's last steps
(jushita_etl.warehouse.scenarios): which alert wins and the strict thresholds, the refund interception conditions,
keyword dimensions, item versions and distributor days; an incremental refresh equals one build; the thresholds
are settings.

The watermark W (the newest pub_time of every event table) is the module's trade at 2026-11-20 12:00:00: every
other delivery here is older, so each case's hours are counted to W."""

from datetime import datetime
from decimal import Decimal

import pytest
from lakehouse import deliveries, message

from jushita_etl.warehouse import scenarios

W = datetime(2026, 11, 20, 12)
TRACE = "taobao_logistics_LogsticDetailTrace"


def trace(tid, out_sid, action, time, id):
    return message(TRACE, {"tid": tid, "out_sid": out_sid, "action": action, "desc": action.lower(), "time": time,
                           "company_name": "顺丰"}, id=id, pub_time=time)


def trade(event, tid, pub_time, id):
    return message("taobao_trade_" + event, {"tid": tid, "seller_nick": "店", "buyer_nick": f"b{tid}"}, id=id,
                   pub_time=pub_time)


def refund(event, refund_id, tid, pub_time, id):
    return message("taobao_refund_" + event, {"refund_id": refund_id, "tid": tid, "refund_fee": "9.50"}, id=id,
                   pub_time=pub_time)


WATERMARK = trade("TradeChanged", 9999, "2026-11-20 12:00:00", 1)
pytestmark = deliveries(WATERMARK)

FAILED = [trace(101, "A", "CONSIGN", "2026-11-19 11:00:00", 11), trace(101, "A", "FAILED", "2026-11-20 10:00:00", 12)]
PICKUP_36_HOURS = [trace(105, "E", "CONSIGN", "2026-11-19 00:00:00", 51)]
PAID_72_HOURS_AGO = [trade("TradeBuyerPay", 201, "2026-11-17 12:00:00", 71)]


@deliveries(
    *FAILED,  # the latest trace failed 2 h before W: failed wins over every stalled condition
    trace(102, "B", "GOT", "2026-11-17 12:00:00", 21), trace(102, "B", "SENT_SCAN", "2026-11-19 11:59:59", 22),
    trace(103, "C", "SENT_SCAN", "2026-11-19 12:00:00", 31),  # exactly 24 h: not more than the threshold
    trace(104, "D", "GOT", "2026-11-17 00:00:00", 41), trace(104, "D", "ARRIVAL", "2026-11-18 11:00:00", 42),
    *PICKUP_36_HOURS,
    trace(106, "F", "GOT", "2026-11-17 00:00:00", 61), trace(106, "F", "SIGNED", "2026-11-18 00:00:00", 62),
    *PAID_72_HOURS_AGO,  # never shipped
    trade("TradeBuyerPay", 202, "2026-11-19 12:00:00", 72),  # 24 h: not yet late
    trade("TradeBuyerPay", 203, "2026-11-17 12:00:00", 73), trade("TradeSellerShip", 203, "2026-11-18 12:00:00", 74),
)
def test_shipment_alerts_first_condition_wins_and_thresholds_are_strict(built):
    """§6.1: one alert per shipment, the first condition that holds; more than the threshold, strictly; the
    hours to W rounded to one decimal; an order paid and never shipped is consign_delayed."""
    assert built.rows("SELECT alert_type, tid, out_sid, since, hours_open, as_of FROM shipment_alerts "
                      "WHERE tid BETWEEN 101 AND 299 ORDER BY tid") == [
        {"alert_type": "delivery_failed", "tid": 101, "out_sid": "A", "since": datetime(2026, 11, 20, 10),
         "hours_open": Decimal("2.0"), "as_of": W},
        {"alert_type": "delivery_stalled", "tid": 102, "out_sid": "B", "since": datetime(2026, 11, 19, 11, 59, 59),
         "hours_open": Decimal("24.0"), "as_of": W},
        {"alert_type": "transport_stalled", "tid": 104, "out_sid": "D", "since": datetime(2026, 11, 18, 11),
         "hours_open": Decimal("49.0"), "as_of": W},
        {"alert_type": "pickup_delayed", "tid": 105, "out_sid": "E", "since": datetime(2026, 11, 19),
         "hours_open": Decimal("36.0"), "as_of": W},
        {"alert_type": "consign_delayed", "tid": 201, "out_sid": None, "since": datetime(2026, 11, 17, 12),
         "hours_open": Decimal("72.0"), "as_of": W},
    ]
    # §6.1 columns: consign_delayed carries the order's nicks and no parcel
    assert built.row("SELECT seller_nick, buyer_nick, company_name, last_action FROM shipment_alerts "
                     "WHERE alert_type = 'consign_delayed'") == {
        "seller_nick": "店", "buyer_nick": "b201", "company_name": None, "last_action": None}


@deliveries(
    trace(404, "D4", "GOT", "2026-11-20 00:00:00", 401), trace(404, "D4", "ARRIVAL", "2026-11-20 06:00:00", 402),
    trace(406, "F4", "GOT", "2026-11-20 00:00:00", 403), trace(406, "F4", "SIGNED", "2026-11-20 06:00:00", 404),
    trade("TradeBuyerPay", 401, "2026-11-19 13:00:00", 405),
    refund("RefundCreated", 301, 404, "2026-11-20 00:00:00", 81),  # parcel D4 is unsigned: interceptable
    refund("RefundCreated", 302, 406, "2026-11-20 00:00:00", 82),  # signed
    refund("RefundCreated", 303, 401, "2026-11-20 00:00:00", 83),  # never shipped
    refund("RefundCreated", 304, 404, "2026-11-19 00:00:00", 84),
    refund("RefundClosed", 304, 404, "2026-11-19 01:00:00", 85),  # closed
)
def test_refund_interceptions_list_only_refunds_on_parcels_that_can_be_stopped(built):
    """§6.2: an open refund of a shipped order none of whose parcels is signed; not one on a signed parcel, on an
    order never shipped, or closed."""
    assert built.rows("SELECT refund_id, tid, refund_status, out_sid, last_action, unsigned_parcels, hours_open, "
                      "refund_fee, as_of FROM refund_interceptions") == [
        {"refund_id": 301, "tid": 404, "refund_status": "WAIT_SELLER_AGREE", "out_sid": "D4",
         "last_action": "ARRIVAL", "unsigned_parcels": 1, "hours_open": Decimal("12.0"),
         "refund_fee": Decimal("9.50"), "as_of": W}]


@deliveries(*[
    message("taobao_traderate_ImprBadTag", {"tid": tid, "num_iid": 551, "seller_nick": "店",
                                            "impr_words": "物流-负面-太慢;客服-负面-态度差;尺码-负面-偏小",
                                            "gmt_modified": f"2026-11-1{day} 10:00:00"}, id=90 + day)
    for tid, day in ((501, 1), (502, 2))])
def test_rating_keywords_dimensions_and_counts(built):
    """§6.3: one row per (seller, item, category, phrase); the dimension from the category's words; mentions,
    distinct orders, first and last seen."""
    first, last = datetime(2026, 11, 11, 10), datetime(2026, 11, 12, 10)
    assert built.rows("SELECT num_iid, category, phrase, dimension, mentions, orders, first_seen, last_seen "
                      "FROM rating_keywords ORDER BY dimension") == [
        {"num_iid": 551, "category": "尺码", "phrase": "偏小", "dimension": "item", "mentions": 2, "orders": 2,
         "first_seen": first, "last_seen": last},
        {"num_iid": 551, "category": "物流", "phrase": "太慢", "dimension": "logistics", "mentions": 2, "orders": 2,
         "first_seen": first, "last_seen": last},
        {"num_iid": 551, "category": "客服", "phrase": "态度差", "dimension": "service", "mentions": 2, "orders": 2,
         "first_seen": first, "last_seen": last},
    ]


def item(event, id, pub_time, **content):
    return message("taobao_item_" + event, {"num_iid": 501, **content}, id=id, pub_time=pub_time)


@deliveries(
    item("ItemAdd", 101, "2026-11-10 00:00:00", nick="店", title="杯", price="10.00", num=5),
    item("ItemUpdate", 102, "2026-11-11 00:00:00", title="杯"),  # changes nothing: no version
    item("ItemUpdate", 103, "2026-11-12 00:00:00", price="12.00", changed_fields="price"),
    item("ItemDownshelf", 104, "2026-11-13 00:00:00"),
)
def test_item_history_opens_a_version_per_change(built):
    """§6.4: a version per event that changes the item's state; the last one current and equal to dim_items."""
    assert built.rows("SELECT version, valid_from, valid_to, is_current, price, status, event_type, changed_fields "
                      "FROM item_history WHERE num_iid = 501 ORDER BY version") == [
        {"version": 1, "valid_from": datetime(2026, 11, 10), "valid_to": datetime(2026, 11, 12), "is_current": False,
         "price": Decimal("10.00"), "status": "onsale", "event_type": "ItemAdd", "changed_fields": None},
        {"version": 2, "valid_from": datetime(2026, 11, 12), "valid_to": datetime(2026, 11, 13), "is_current": False,
         "price": Decimal("12.00"), "status": "onsale", "event_type": "ItemUpdate", "changed_fields": "price"},
        {"version": 3, "valid_from": datetime(2026, 11, 13), "valid_to": None, "is_current": True,
         "price": Decimal("12.00"), "status": "instock", "event_type": "ItemDownshelf", "changed_fields": None},
    ]
    current = "SELECT seller_nick, title, price, quantity, status FROM {} WHERE num_iid = 501"
    assert built.row(current.format("item_history") + " AND is_current") == built.row(current.format("dim_items"))


FX = {"supplier_username": "供应商", "distributor_username": "分销商"}


def fenxiao(event, id, pub_time, **content):
    return message("taobao_fenxiao_" + event, {**FX, **content}, id=id, pub_time=pub_time)


@deliveries(
    fenxiao("FxOrderCreate", 111, "2026-11-15 09:00:00", fenxiao_id=601),
    fenxiao("FxOrderPaid", 112, "2026-11-15 10:00:00", fenxiao_id=601, distributor_payment="30.00"),
    fenxiao("FxOrderPaid", 113, "2026-11-15 11:00:00", sub_order_id=602, distributor_payment="20.50"),
    fenxiao("FxRefundSuccess", 114, "2026-11-15 12:00:00", fenxiao_id=601, refund_fee="5.00"),
    fenxiao("FxOrderPaid", 115, "2026-11-16 10:00:00", fenxiao_id=603, distributor_payment="1.00"),
)
def test_distributor_daily_counts_orders_and_sums_amounts(built):
    """§6.5: per supplier, distributor and day: distinct orders (fenxiao_id, else sub_order_id) per event type,
    paid and refunded amounts (0.00 when none), events."""
    assert built.rows("SELECT event_date::VARCHAR AS day, orders_created, orders_paid, paid_amount, "
                      "refunds_succeeded, refund_amount, events FROM distributor_daily ORDER BY event_date") == [
        {"day": "2026-11-15", "orders_created": 1, "orders_paid": 2, "paid_amount": Decimal("50.50"),
         "refunds_succeeded": 1, "refund_amount": Decimal("5.00"), "events": 4},
        {"day": "2026-11-16", "orders_created": 0, "orders_paid": 1, "paid_amount": Decimal("1.00"),
         "refunds_succeeded": 0, "refund_amount": Decimal("0.00"), "events": 1},
    ]


def test_arrivals_in_chunks_equal_one_build(built, lakehouse):
    """The incremental refresh (the groups of the new events, the alerts recomputed) equals building everything at
    once, whatever the arrival order: here every delivery of this module arrives reversed, in three builds."""
    records = list(reversed(built.records))
    assert len(records) > 30
    for chunk in (records[:10], records[10:25], records[25:]):
        lakehouse.build(chunk)
    for table in scenarios.SCENARIO_TABLES:
        query = f"SELECT * FROM {table.name} ORDER BY ALL"
        assert lakehouse.rows(query) == built.rows(query), table.name


def test_thresholds_are_settings(lakehouse, monkeypatch):
    """§6.1: a deployment configures the thresholds (JUSHITA_ALERT_*_HOURS): with pickup at 40 h the parcel
    waiting 36 h has no alert and one waiting 41 h has; with consign at 100 h the order paid 72 h ago has none."""
    monkeypatch.setenv("JUSHITA_ALERT_PICKUP_HOURS", "40")
    monkeypatch.setenv("JUSHITA_ALERT_CONSIGN_HOURS", "100")
    lakehouse.build([WATERMARK, *FAILED, *PICKUP_36_HOURS, *PAID_72_HOURS_AGO,
                     trace(107, "G", "CONSIGN", "2026-11-18 19:00:00", 55)])
    assert lakehouse.rows("SELECT alert_type, tid FROM shipment_alerts ORDER BY tid") == [
        {"alert_type": "delivery_failed", "tid": 101}, {"alert_type": "pickup_delayed", "tid": 107}]


@pytest.mark.parametrize("table", [t.name for t in scenarios.SCENARIO_TABLES])
def test_every_scenario_table_has_rows_here(built, table):
    """Guards the cases above: each scenario table is built from this module's deliveries (none is empty)."""
    assert built.row(f"SELECT count(*) > 0 AS some FROM {table}") == {"some": True}


def test_null_groups_stay_one_group_across_builds(lakehouse):
    """§6.3, §6.5: NULLs group together, also when a later build adds to a group the table already holds: the
    incremental refresh replaces that group's row instead of adding a second one."""
    def unnamed_fenxiao(id, fenxiao_id):  # no supplier or distributor: a NULL group
        return message("taobao_fenxiao_FxOrderPaid", {"fenxiao_id": fenxiao_id, "distributor_payment": "1.00"}, id=id,
                       pub_time="2026-11-15 10:00:00")

    def unnamed_rating(id, tid):  # no seller or item: a NULL group
        return message("taobao_traderate_ImprBadTag", {"tid": tid, "impr_words": "物流-负面-太慢",
                                                       "gmt_modified": "2026-11-15 10:00:00"},
                       id=id, pub_time="2026-11-15 10:00:00")

    lakehouse.build([unnamed_fenxiao(131, 621), unnamed_rating(141, 701)])
    lakehouse.build([unnamed_fenxiao(132, 622), unnamed_rating(142, 702)])
    assert lakehouse.rows("SELECT supplier_username, distributor_username, orders_paid, events "
                          "FROM distributor_daily") == [
        {"supplier_username": None, "distributor_username": None, "orders_paid": 2, "events": 2}]
    assert lakehouse.rows("SELECT seller_nick, num_iid, phrase, mentions, orders FROM rating_keywords") == [
        {"seller_nick": None, "num_iid": None, "phrase": "太慢", "mentions": 2, "orders": 2}]
