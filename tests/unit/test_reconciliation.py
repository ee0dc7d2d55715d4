"""The reconciliation of contract §5, over distinct mq_msg_ids: deliveries = event rows + duplicate deliveries +
quarantined + unmodelled, on the writer's state and on the published build analysts read."""

from lakehouse import deliveries, message
from support import delivery, envelope

from jushita_etl.warehouse import db, steps

CREATE = "taobao_trade_TradeCreate"
DUPLICATE = envelope(CREATE, {"tid": 1004}, id=4004)

pytestmark = deliveries(
    message(CREATE, {"tid": 1}, id=1),  # 2 event rows
    message("taobao_refund_RefundCreated", {"refund_id": 2}, id=2),
    delivery(DUPLICATE, msg_id="DUP-A"),  # 1 event row and 1 duplicate (a second msg_id, the same envelope id)
    delivery(DUPLICATE, msg_id="DUP-B"),
    delivery(DUPLICATE, msg_id="DUP-A", reconsume=1),  # a redelivery: the same mq_msg_id, counted once
    message("taobao_fuwu_OrderPaid", {"x": 1}, id=3101, msg_id="U-1"),  # 2 unmodelled (a topic that reads
    message("true", {"x": 1}, id=3102, msg_id="U-2"),  # like a JSON literal is still a string)
    delivery("not json", msg_id="Q-1"),  # 3 quarantined
    delivery(envelope(CREATE, {"status": "X"}), msg_id="Q-2"),
    delivery(envelope("", {"tid": 1}), msg_id="Q-3"),
)


def test_the_reconciliation_holds_with_each_count(built):
    with db.writer(built.paths) as conn:  # on the writer's latest state
        counted = steps.reconcile(conn)
    assert counted == steps.Reconciliation(deliveries=9, events=3, duplicates=1, quarantined=3, unmodelled=2)
    assert counted.holds, counted.line()
    published = db.reader(built.paths)  # and on the published snapshot (its bookkeeping included)
    try:
        assert steps.reconcile(published) == counted
    finally:
        published.close()


def test_unmodelled_topics_stay_in_raw_messages_only(built):
    """§2: a topic of no domain is not an error: in raw_messages, in no event table and not quarantined."""
    assert built.row("SELECT count(*) AS n FROM raw_messages WHERE mq_msg_id IN ('U-1', 'U-2')") == {"n": 2}
    assert built.rows("SELECT * FROM quarantine WHERE mq_msg_id IN ('U-1', 'U-2')") == []
    events = " UNION ALL ".join(f"SELECT message_id FROM {t.name}" for t in steps.EVENT_TABLES)
    assert built.rows(f"SELECT * FROM ({events}) WHERE message_id IN (3101, 3102)") == []
