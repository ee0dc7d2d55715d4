"""fact_refunds (contract §4.2) and the refunded amount it gives fact_orders (§4.1)."""

from datetime import datetime
from decimal import Decimal

from lakehouse import deliveries, message

BASE = {"refund_id": 7001, "tid": 1003, "refund_fee": "5.25", "modified": "2026-11-12 10:00:00"}


def refund(event, id, pub_time, **content):
    return message("taobao_refund_" + event, {**BASE, **content}, id=id, pub_time=pub_time)


def trade(event, tid, id):
    return message("taobao_trade_" + event, {"tid": tid}, id=id, pub_time="2026-11-11 10:00:00")


@deliveries(
    refund("RefundCreated", 7101, "2026-11-12 10:00:00"),
    refund("RefundCreateMessage", 7102, "2026-11-12 11:00:00", refund_fee=None),  # not a lifecycle event
    refund("RefundSellerAgreeAgreement", 7103, "2026-11-12 12:00:00"),
    refund("RefundSuccess", 7104, "2026-11-12 12:00:00"),
    refund("RefundCreated", 7105, "2026-11-12 10:00:00", refund_id=7002, refund_fee="100"),
)
def test_status_and_times_follow_the_lifecycle_events(built):
    """§4.2: status from the latest lifecycle event (success outranks agree in the same second; other refund
    topics do not change it), refund_fee the latest non-null, the first time of each lifecycle event."""
    assert built.row("SELECT status, refund_fee, created_at, agreed_at, succeeded_at, closed_at, event_count "
                     "FROM fact_refunds WHERE refund_id = 7001") == {
        "status": "SUCCESS", "refund_fee": Decimal("5.25"), "created_at": datetime(2026, 11, 12, 10),
        "agreed_at": datetime(2026, 11, 12, 12), "succeeded_at": datetime(2026, 11, 12, 12), "closed_at": None,
        "event_count": 4}
    assert built.row("SELECT status FROM fact_refunds WHERE refund_id = 7002") == {"status": "WAIT_SELLER_AGREE"}
    assert built.row("SELECT modified FROM refund_events WHERE message_id = 7101") == {
        "modified": datetime(2026, 11, 12, 10)}  # §3: a content time


@deliveries(
    trade("TradeCreate", 1003, 7201),  # refund 7001 succeeded (5.25), refund 7002 only created (100)
    trade("TradeCreate", 1001, 7202),  # no refund
)
def test_the_refunded_amount_of_an_order_sums_its_successful_refunds(built):
    """§4.1 refunded_amount: refund_fee summed over the tid's SUCCESS refunds; 0.00 when there is none."""
    assert built.rows("SELECT tid, refunded_amount FROM fact_orders ORDER BY tid") == [
        {"tid": 1001, "refunded_amount": Decimal("0.00")}, {"tid": 1003, "refunded_amount": Decimal("5.25")}]
