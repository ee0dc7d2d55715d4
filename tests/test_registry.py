"""sql/tables.yml against the schema and the parse: every table and key it names exists, and each topic reaches the
domain its table states, with the event type after the topic's second underscore."""

import pytest

from jushita_etl.settings import paths
from jushita_etl.warehouse import tables
from jushita_etl.warehouse.db import open_writer_connection, prepare


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    c = open_writer_connection(paths(tmp_path_factory.mktemp("r") / "data"))
    prepare(c)
    yield c
    c.close()


def test_every_table_and_key_column_exists(conn):
    for kind in tables.KINDS:
        for table in tables.of_kind(kind):
            if table.name == "raw_messages":  # a view, defined once a batch is ingested
                continue
            columns = {row[0] for row in conn.execute(f"DESCRIBE {table.name}").fetchall()}
            assert set(table.key) | set(table.business_key) | set(table.refold_by) <= columns, table.name


@pytest.mark.parametrize("topic, domain, event_type", [
    ("taobao_trade_TradeCreate", "trade", "TradeCreate"),
    ("taobao_refund_RefundSuccess", "refund", "RefundSuccess"),
    ("taobao_item_ItemAdd", "item", "ItemAdd"),
    ("taobao_logistics_LogsticDetailTrace", "logistics", "LogsticDetailTrace"),
    ("taobao_logistics_Other", None, None),  # only the one logistics topic is modelled
    ("taobao_traderate_ImprBadTag", "rating", "ImprBadTag"),
    ("taobao_fenxiao_FxOrderPaid", "fenxiao", "FxOrderPaid"),
    ("taobao_tradex_Y", None, None),
])
def test_topic_routes(conn, topic, domain, event_type):
    route = conn.execute("SELECT domain, substr($topic, event_type_from) FROM topic_routes "
                         "WHERE starts_with($topic, prefix) AND (topic IS NULL OR topic = $topic)",
                         {"topic": topic}).fetchall()
    assert route == ([(domain, event_type)] if domain else [])


def test_key_fields_of_each_route():
    fields = tables.key_fields()
    for route in tables.topic_routes():
        table = next(t for t in tables.of_kind("events") if t.domain == route.domain)
        named = [fields[route.key_position - 1]]
        if route.fallback_position:
            named.append(fields[route.fallback_position - 1])
        assert tuple(named) == table.business_key


def test_overlapping_topics_are_refused():
    def route(prefix, topic=None):
        return tables.TopicRoute(prefix, topic, "d", 1, 1, None, "k")

    assert tables.routes_overlap(route("taobao_trade_"), route("taobao_trade_x_"))
    assert tables.routes_overlap(route("taobao_logistics_"), route("taobao_logistics_", "taobao_logistics_A"))
    assert not tables.routes_overlap(route("taobao_logistics_", "taobao_logistics_A"),
                               route("taobao_logistics_", "taobao_logistics_B"))
    assert not tables.routes_overlap(route("taobao_trade_"), route("taobao_traderate_"))
