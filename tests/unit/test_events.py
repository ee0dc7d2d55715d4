"""The columns every event table shares and the parsing rules of contract §1 and §3, on trade_events: exact 64-bit
ids, invalid optional fields as NULL, event_type, content as given, one row per platform message, and the event
step's check of that."""

import json
from decimal import Decimal

import pytest

from lakehouse import deliveries, message
from support import delivery, envelope

from jushita_etl.warehouse import db, steps

MAX = 2**63 - 1
CREATE = "taobao_trade_TradeCreate"
DUPLICATE = envelope(CREATE, {"tid": 1004}, id=4004, pub_time="2026-11-12 08:00:00")


@deliveries(
    message(CREATE, {"tid": MAX, "oid": str(MAX - 1), "payment": "0.5"}, id=MAX, pub_time="2026-11-11 12:00:00"),
    message(CREATE, {"tid": str(MAX - 7)}, id=MAX - 1, pub_time="2026-11-11 12:00:01"),
)
def test_ids_up_to_2_63_are_exact_as_numbers_or_digit_strings(built):
    """§1 integers: a value near 2^63 as a JSON number and as a string of digits, never through a double; §3's
    column types."""
    assert built.row("SELECT tid, oid, payment FROM trade_events WHERE message_id = ?", MAX) == {
        "tid": MAX, "oid": MAX - 1, "payment": Decimal("0.50")}
    assert built.row("SELECT tid FROM trade_events WHERE message_id = ?", MAX - 1) == {"tid": MAX - 7}
    types = {r["column_name"]: r["data_type"] for r in built.rows(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'trade_events'")}
    assert (types["message_id"], types["payment"], types["pub_time"]) == ("BIGINT", "DECIMAL(18,2)", "TIMESTAMP")


@deliveries(
    message("taobao_trade_TradeModifyFee", {"tid": 1003, "payment": "1,799.00", "status": "X"}, id=34,
            pub_time="2026-11-11 00:00:02"),
)
def test_an_invalid_optional_field_is_null_and_keeps_the_message(built):
    """§1: invalid money in an optional field becomes NULL; the message is kept, its event_type the topic after
    its second underscore."""
    assert built.row("SELECT payment, status, event_type FROM trade_events WHERE message_id = 34") == {
        "payment": None, "status": "X", "event_type": "TradeModifyFee"}


@deliveries(
    delivery(DUPLICATE, msg_id="DUP-A", born=1),
    delivery(DUPLICATE, msg_id="DUP-B", born=2),  # the platform published it again
    delivery(DUPLICATE, msg_id="DUP-A", born=1, reconsume=1),  # the broker redelivered it
)
def test_one_event_row_per_message_however_often_delivered(built):
    """§3 deduplication: one row per envelope id; §5 raw_messages keeps every delivery, redeliveries included."""
    assert built.row("SELECT count(*) AS n FROM trade_events WHERE message_id = 4004") == {"n": 1}
    assert built.row("SELECT count(*) AS deliveries, count(DISTINCT mq_msg_id) AS msg_ids FROM raw_messages "
                     "WHERE mq_msg_id LIKE 'DUP-%'") == {"deliveries": 3, "msg_ids": 2}


@deliveries(
    delivery(envelope(CREATE, {"tid": 1005, "payment": "3.30"}, id=5005, content_as_text=False)),
)
def test_content_given_as_an_object_is_accepted_and_kept_complete(built):
    """§1: content may be a JSON object instead of text; the column content holds it complete (§3)."""
    row = built.row("SELECT content, payment FROM trade_events WHERE message_id = 5005")
    assert row["payment"] == Decimal("3.30") and json.loads(row["content"]) == {"tid": 1005, "payment": "3.30"}


@deliveries(
    delivery("\n\t" + json.dumps(envelope(CREATE, ' {"tid": 1006, "status": "WS"}\r\n', id=6006)) + "\r\n"),
)
def test_json_whitespace_around_the_body_and_the_content_is_still_json(built):
    """§0.1/§1: whitespace around the body's object and around the content's object is JSON whitespace."""
    assert built.row("SELECT tid, status FROM trade_events WHERE message_id = 6006") == {"tid": 1006, "status": "WS"}


@pytest.mark.parametrize("group_whole_rows", [0, steps.GROUP_WHOLE_ROWS])
def test_the_unique_id_check_counts_an_id_twice_in_the_changed_partitions_or_across_them(lakehouse, monkeypatch,
                                                                                        group_whole_rows):
    """The event step's check (steps.report_events) finds a message id held by two rows, whether every partition
    changed (a first build: the table grouped whole) or one did (its ids looked up in the whole table, or a small
    table grouped whole)."""
    monkeypatch.setattr(steps, "GROUP_WHOLE_ROWS", group_whole_rows)
    lakehouse.build([message(CREATE, {"tid": 1}, id=11, pub_time="2026-11-11 10:00:00"),
                     message(CREATE, {"tid": 2}, id=12, pub_time="2026-11-12 10:00:00")])
    with db.writer(lakehouse.paths) as conn:  # a second row for id 11, in the other partition
        conn.execute("INSERT INTO trade_events SELECT * REPLACE (DATE '2026-11-12' AS event_date) "
                     "FROM trade_events WHERE message_id = 11")
        conn.execute("INSERT INTO etl.event_changes VALUES ('trade_events', DATE '2026-11-11'), "
                     "('trade_events', DATE '2026-11-12')")
        assert steps.report_events(conn)["trade_events"].duplicated_ids == 1  # every partition changed
        conn.execute("INSERT INTO etl.event_changes VALUES ('trade_events', DATE '2026-11-12')")
        assert steps.report_events(conn)["trade_events"].duplicated_ids == 1  # one changed, the other holds id 11
        conn.execute("INSERT INTO etl.event_changes VALUES ('trade_events', DATE '2026-11-11')")
        assert steps.report_events(conn)["trade_events"].duplicated_ids == 1
