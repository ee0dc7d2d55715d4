"""fenxiao_events (contract §3): the distribution domain's business key."""

from decimal import Decimal

from lakehouse import deliveries, message


@deliveries(
    message("taobao_fenxiao_FxRefundCreate", {"sub_order_id": 5555, "refund_fee": "1.10"}, id=5101),
)
def test_sub_order_id_stands_in_for_a_missing_fenxiao_id(built):
    """§3: the key is fenxiao_id, or sub_order_id when there is none: the message is kept, not quarantined."""
    assert built.row("SELECT fenxiao_id, sub_order_id, refund_fee FROM fenxiao_events WHERE message_id = 5101") == {
        "fenxiao_id": None, "sub_order_id": 5555, "refund_fee": Decimal("1.10")}
    assert built.rows("SELECT * FROM quarantine") == []
