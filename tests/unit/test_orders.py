"""fact_orders (contract §4.1), folded from trade_events in the order of §4: (pub_time, lifecycle rank, message_id),
never the arrival order."""

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest
from lakehouse import deliveries, message

from jushita_etl.warehouse import db, steps


def trade(event, tid, pub_time, id, **content):
    return message("taobao_trade_" + event, {"tid": tid, **content}, id=id, pub_time=pub_time)


@deliveries(
    trade("TradeSellerShip", 1001, "2026-11-11 10:00:00", 3, status="WAIT_BUYER_CONFIRM_GOODS"),
    trade("TradeCreate", 1001, "2026-11-11 10:00:00", 5, status="WAIT_BUYER_PAY", payment="10.00",
          buyer_open_uid="AAHopen", seller_nick="卖家🔥\"q\"\\n"),
    trade("TradeMemoModified", 1001, "2026-11-11 10:00:00", 9, status="MEMO"),
)
def test_events_in_one_second_are_ordered_by_lifecycle_rank_before_message_id(built):
    """§4 order of events: in one second the ship (rank 60) is latest, after the memo ("other", 45) of a larger
    message_id and the create (10); text is kept exactly (§1)."""
    assert built.row("SELECT status, payment, buyer_open_uid, seller_nick, created_at, shipped_at, event_count "
                     "FROM fact_orders WHERE tid = 1001") == {
        "status": "WAIT_BUYER_CONFIRM_GOODS", "payment": Decimal("10.00"), "buyer_open_uid": "AAHopen",
        "seller_nick": "卖家🔥\"q\"\\n", "created_at": datetime(2026, 11, 11, 10),
        "shipped_at": datetime(2026, 11, 11, 10), "event_count": 3}


@deliveries(
    trade("TradeChanged", 1002, "2026-11-11 11:00:00", 200, status="B"),
    trade("TradeMemoModified", 1002, "2026-11-11 11:00:00", 100, status="A"),
)
def test_same_second_and_same_rank_the_larger_message_id_is_latest(built):
    """§4 order of events: two "other" events (rank 45) in one second: message_id decides."""
    assert built.row("SELECT status FROM fact_orders WHERE tid = 1002") == {"status": "B"}


@deliveries(  # delivered in this order: the success first, days before the create arrives
    trade("TradeSuccess", 1003, "2026-11-14 09:00:00", 31, status="TRADE_FINISHED"),
    trade("TradeCreate", 1003, "2026-11-10 23:59:59", 32, status="WAIT_BUYER_PAY", payment="12", buyer_nick="c**"),
    trade("TradeBuyerPay", 1003, "2026-11-11 00:00:01", 33, payment=12.5),
    trade("TradeModifyFee", 1003, "2026-11-11 00:00:02", 34, payment="1,799.00"),
)
def test_latest_non_null_values_and_first_times_whatever_the_arrival_order(built):
    """§4.1: status, payment and nicks are the latest non-null (the pay event has no status; "1,799.00" is invalid
    money, NULL on its event, so the pay event's 12.5 is the latest payment); created/paid/finished are the first
    event of their type; first/last_event_at the min/max pub_time."""
    assert built.row("SELECT status, payment, buyer_nick, buyer_open_uid, created_at, paid_at, finished_at, "
                     "closed_at, event_count, first_event_at, last_event_at FROM fact_orders WHERE tid = 1003") == {
        "status": "TRADE_FINISHED", "payment": Decimal("12.50"), "buyer_nick": "c**", "buyer_open_uid": None,
        "created_at": datetime(2026, 11, 10, 23, 59, 59), "paid_at": datetime(2026, 11, 11, 0, 0, 1),
        "finished_at": datetime(2026, 11, 14, 9), "closed_at": None, "event_count": 4,
        "first_event_at": datetime(2026, 11, 10, 23, 59, 59), "last_event_at": datetime(2026, 11, 14, 9)}


@pytest.mark.parametrize("group_whole_rows", [0, steps.GROUP_WHOLE_ROWS])
def test_a_refold_that_leaves_a_key_twice_is_counted_by_the_keys_it_wrote_or_by_the_whole_table(
        lakehouse, monkeypatch, group_whole_rows):
    """The facts' unique-key check. A refold of a table above GROUP_WHOLE_ROWS counts the keys it wrote that the
    table now holds twice (steps.duplicated_written_keys), a smaller one leaves the check to group the table whole.
    The second refold here misses the old row of its key, as a fold whose delete matched nothing would (refolded by
    a column its dirty keys never name)."""
    monkeypatch.setattr(steps, "GROUP_WHOLE_ROWS", group_whole_rows)
    lakehouse.build([trade("TradeCreate", 5001, "2026-11-11 10:00:00", 41, status="WAIT_BUYER_PAY"),
                     trade("TradeCreate", 5002, "2026-11-11 10:00:00", 42, status="WAIT_BUYER_PAY")])
    orders = next(fact for fact in steps.FACT_TABLES if fact.name == "fact_orders")
    for event_id, fact in [(43, orders), (44, dataclasses.replace(orders, refold_by=("event_count",)))]:
        lakehouse.land([trade("TradeBuyerPay", 5001, "2026-11-11 11:00:00", event_id, status="WAIT_SELLER_SEND_GOODS")])
        with db.writer(lakehouse.paths) as conn:
            steps.ingest(conn, lakehouse.paths)
            refolded = steps.refold_fact(conn, fact, before=steps.row_counts(conn, ["fact_orders"])["fact_orders"])
            twice = conn.execute("SELECT count(*) FROM (SELECT tid FROM fact_orders GROUP BY 1 "
                                 "HAVING count(*) > 1)").fetchone()[0]
        assert twice == (0 if fact is orders else 1)
        assert refolded.duplicated_keys == (twice if group_whole_rows == 0 else None)
