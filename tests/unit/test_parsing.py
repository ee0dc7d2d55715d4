"""The parsing macros of the contract §1 as properties, on DuckDB directly: exact 64-bit integers, money, times."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jushita_etl.settings import paths
from jushita_etl.warehouse.db import open_writer_connection, prepare


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    """A writer connection to a lakehouse of its own, prepared as the pipeline prepares it (the macros are defined
    on the lake's connection)."""
    c = open_writer_connection(paths(tmp_path_factory.mktemp("p") / "data"))
    prepare(c)
    yield c
    c.close()


def on_raw(conn, macro: str, raw: str):
    """Apply a macro to the field v of the JSON object ``raw`` as the SQL hands the value over: json_extract_string's
    text (and to s_time the document and path as well)."""
    args = "t, doc, '$.v'" if macro == "s_time" else "t"
    return conn.execute(f"SELECT {macro}({args}) FROM (SELECT ?::VARCHAR AS doc, json_extract_string(?, '$.v') AS t)",
                        [raw, raw]).fetchone()[0]


def field(conn, macro: str, value):
    """Apply a macro to ``value`` as it would arrive inside a content object."""
    return on_raw(conn, macro, orjson.dumps({"v": value}).decode())


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans())
def test_int64_exact_as_number_or_digit_string(conn, value, as_text):
    assert field(conn, "s_int", str(value) if as_text else value) == value


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=2**63, max_value=2**70))
def test_out_of_range_integers_are_invalid(conn, value):
    raw = '{"v": %d}' % value  # above int64: invalid, never wrapped or rounded
    assert on_raw(conn, "s_int", raw) is None


@pytest.mark.parametrize("value", [1.5, "1.5", "12ab", "", " 12", "+12", "1_000", "1e3", True, None, [1], {"a": 1}])
def test_not_integers(conn, value):
    assert field(conn, "s_int", value) is None


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=Decimal("-9999999999.99"), max_value=Decimal("9999999999.99"), places=2), st.booleans())
def test_money_as_string_or_number(conn, amount, as_text):
    raw = '{"v": %s}' % (f'"{amount}"' if as_text else str(amount))
    assert on_raw(conn, "s_money", raw) == amount


@pytest.mark.parametrize("value,expected", [("1799.00", "1799.00"), ("12", "12.00"), ("0.5", "0.50"), (12.5, "12.50"),
                                            ("1,799.00", None), ("¥12", None), ("abc", None), (None, None),
                                            (True, None), ({"a": 1}, None)])
def test_money_forms(conn, value, expected):
    result = field(conn, "s_money", value)
    assert (None if result is None else f"{result:.2f}") == expected


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_epoch_millis_become_china_wall_clock(conn, moment):
    moment = moment.replace(microsecond=0)
    millis = int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)
    assert field(conn, "s_time", millis) == moment + timedelta(hours=8)
    assert field(conn, "s_time", (moment + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")) == moment + timedelta(hours=8)


@pytest.mark.parametrize("value", ["2026/11/11 10:00:00", "2026-11-11T10:00:00", "2026-02-30 10:00:00", "2026-11-11",
                                   "1731290400000", "2026-11-11 10:00:00.5", 1.5, 2**63, True, {"a": 1}, None])
def test_invalid_times(conn, value):
    # "1731290400000" is a string of digits: epoch milliseconds must be a JSON integer
    assert field(conn, "s_time", value) is None


def test_text_kept_exactly(conn):
    """Text "as given": a string's value exactly; numbers, objects and arrays as their JSON text; NULL for null."""
    text = 'c** 🐱 "q" back\\\\slash\nnew line'
    given = {text: text, 12: "12", -1.5: "-1.5", True: "true", "null": "null", None: None}
    given_json = {'{"a": [1, "x"]}': '{"a":[1,"x"]}', "[1, 2]": "[1,2]"}
    for value, expected in given.items():
        assert conn.execute("SELECT json_extract_string(?, '$.v')", [orjson.dumps({"v": value}).decode()]).fetchone()[0] == expected
    for value, expected in given_json.items():
        assert conn.execute("SELECT json_extract_string(?, '$.v')", ['{"v": %s}' % value]).fetchone()[0] == expected


MILLI = timedelta(milliseconds=1)


@settings(max_examples=150, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.lists(st.tuples(st.integers(min_value=-2, max_value=2), st.integers(min_value=0, max_value=99),
                          st.sampled_from([-(2**63), -1, 0, 1, 2**53 + 1, 2**63 - 1]) | st.integers(-(2**63), 2**63 - 1)),
                min_size=2, max_size=10))
def test_fold_order_sorts_like_time_rank_message_id(conn, base, offsets):
    """The packed HUGEINT the folds compare orders events exactly as the contract's (time, rank, message_id):
    times a millisecond apart, equal times with different ranks, equal time and rank with extreme message ids."""
    base = base.replace(microsecond=base.microsecond // 1000 * 1000)  # times carry at most milliseconds
    keys = [(base + k * MILLI, rank, message_id) for k, rank, message_id in offsets]
    packed = conn.execute(
        "SELECT list(fold_order(t, r, m) ORDER BY i) FROM (SELECT unnest(?::TIMESTAMP[]) AS t, "
        "unnest(?::INTEGER[]) AS r, unnest(?::BIGINT[]) AS m, unnest(range(?)) AS i)",
        [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], len(keys)]).fetchone()[0]
    assert sorted(range(len(keys)), key=lambda i: packed[i]) == sorted(range(len(keys)), key=lambda i: keys[i])
