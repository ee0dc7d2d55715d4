"""quarantine (contract §2): a delivery that cannot be used gets one row, with its reason; never dropped. Every
case below is a delivery and the reason it must be quarantined for."""

from lakehouse import deliveries
from support import delivery, envelope

CREATE = "taobao_trade_TradeCreate"
GOOD = {"tid": 1}


def without_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "id"}


CASES = [
    ("body_not_json", delivery(b"\xff\xfebad", msg_id="Q-UTF8")),
    ("body_not_json", delivery("not json", msg_id="Q-NOTJSON")),
    ("body_not_json", delivery("[1,2]", msg_id="Q-ARRAY")),
    # shaped like an object but malformed: the parse that trusts the shape fails, the validating one quarantines
    ("body_not_json", delivery('{"id": 1 "topic": "taobao_trade_TradeCreate"}', msg_id="Q-OBJBROKEN")),
    ("envelope_invalid", delivery(without_id(envelope(CREATE, GOOD)), msg_id="Q-NOID")),
    ("envelope_invalid", delivery(envelope(CREATE, GOOD, id="1.2e18"), msg_id="Q-IDTEXT")),
    ("envelope_invalid", delivery(envelope(CREATE, GOOD, id=1.5), msg_id="Q-IDFRAC")),
    ("envelope_invalid", delivery(envelope(CREATE, GOOD, id=2**63), msg_id="Q-IDBIG")),
    ("envelope_invalid", delivery(envelope(CREATE, GOOD, pub_time="2026/11/11 10:00:00"), msg_id="Q-PUBTIME")),
    ("envelope_invalid", delivery(envelope(CREATE, GOOD, pub_time="2026-02-30 10:00:00"), msg_id="Q-PUBDATE")),
    ("envelope_invalid", delivery(envelope("", GOOD), msg_id="Q-TOPIC")),
    # a field's text alone does not tell a string from a literal: "5" from 5, "[1]" from [1], "true" from true
    ("envelope_invalid", delivery({**envelope(CREATE, GOOD), "topic": 5}, msg_id="Q-TOPICNUM")),
    ("envelope_invalid", delivery(envelope(CREATE, 42, content_as_text=False), msg_id="Q-CONTENTNUM")),
    ("envelope_invalid", delivery(envelope(CREATE, [1], content_as_text=False), msg_id="Q-CONTENTLIST")),
    ("envelope_invalid", delivery(envelope(CREATE, True, content_as_text=False), msg_id="Q-CONTENTTRUE")),
    ("envelope_invalid", delivery(envelope(CREATE, None, content_as_text=False), msg_id="Q-CONTENTNULL")),
    ("content_not_json", delivery(envelope(CREATE, "not json at all"), msg_id="Q-CONTENTTEXT")),
    ("content_not_json", delivery(envelope(CREATE, "[1]"), msg_id="Q-CONTENTARRAY")),
    ("content_not_json", delivery(envelope(CREATE, '{"tid": 7,, "status": "X"}'), msg_id="Q-CONTENTBROKEN")),
    ("content_not_json", delivery(envelope(CREATE, "5"), msg_id="Q-CONTENTDIGITS")),
    ("content_not_json", delivery(envelope(CREATE, "true"), msg_id="Q-CONTENTWORD")),
    ("missing_key", delivery(envelope(CREATE, {"status": "X"}), msg_id="Q-NOKEY")),
    ("missing_key", delivery(envelope(CREATE, {"tid": "12ab"}), msg_id="Q-KEYTEXT")),
    ("missing_key", delivery(envelope(CREATE, {"tid": 1.5}), msg_id="Q-KEYFRAC")),
    ("missing_key", delivery(envelope("taobao_item_ItemAdd", {"num_iid": 99999999999999999999}), msg_id="Q-KEYBIG")),
]
pytestmark = deliveries(*[record for _, record in CASES])


def test_every_quarantine_reason(built):
    """§2: each delivery above is quarantined, once, for its reason, and nothing else is."""
    assert {r["mq_msg_id"]: r["reason"] for r in built.rows("SELECT mq_msg_id, reason FROM quarantine")} == {
        record["msg_id"]: reason for reason, record in CASES}


def test_a_body_not_utf8_is_kept_readable_with_its_detail(built):
    """§2 columns: body is the body as text with invalid UTF-8 replaced; detail says what is wrong."""
    row = built.row("SELECT body, detail FROM quarantine WHERE mq_msg_id = 'Q-UTF8'")
    assert row["body"] == "\ufffd\ufffdbad" and "UTF-8" in row["detail"]


def test_message_id_and_topic_are_kept_when_known(built):
    """§2 columns: message_id and topic when the envelope gives them, NULL when not (a topic that is not a string
    is no topic)."""
    assert built.row("SELECT topic, message_id IS NOT NULL AS has_id FROM quarantine WHERE mq_msg_id = 'Q-NOKEY'") == {
        "topic": CREATE, "has_id": True}
    assert built.row("SELECT message_id FROM quarantine WHERE mq_msg_id = 'Q-IDTEXT'") == {"message_id": None}
    assert built.row("SELECT topic FROM quarantine WHERE mq_msg_id = 'Q-TOPICNUM'") == {"topic": None}
