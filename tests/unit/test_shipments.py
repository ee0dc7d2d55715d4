"""fact_shipments (contract §4.4): one row per (tid, out_sid), ordered by trace time, not by pub_time."""

from datetime import datetime

from lakehouse import deliveries, message

TRACE = "taobao_logistics_LogsticDetailTrace"
# 2026-11-11 09:30:00 in China as epoch milliseconds
MILLIS = int((datetime(2026, 11, 11, 9, 30) - datetime(1970, 1, 1, 8)).total_seconds() * 1000)


def trace(id, pub_time, **content):
    return message(TRACE, {"tid": 1003, **content}, id=id, pub_time=pub_time)


@deliveries(
    trace(8101, "2026-11-13 18:01:00", out_sid="SF1", action="SIGNED", desc="签收", time="2026-11-13 18:00:00",
          company_name="顺丰"),
    trace(8102, "2026-11-13 19:00:00", out_sid="SF1", action="CONSIGN", desc="发货", time=MILLIS),
    trace(8103, "2026-11-12 08:00:00", out_sid="SF1", action="FAILED", desc="拒收", time="2026-11-12 08:00:00"),
)
def test_a_parcel_is_folded_in_trace_time_order(built):
    """§4.4: the consign published last happened first (its epoch-millisecond time is China wall clock, §1); the
    signature is the latest event; a FAILED trace counts as an exception."""
    assert built.row("SELECT company_name, last_action, last_description, consigned_at, signed_at, first_trace_at, "
                     "last_trace_at, exception_count, trace_count FROM fact_shipments "
                     "WHERE tid = 1003 AND out_sid = 'SF1'") == {
        "company_name": "顺丰", "last_action": "SIGNED", "last_description": "签收",
        "consigned_at": datetime(2026, 11, 11, 9, 30), "signed_at": datetime(2026, 11, 13, 18),
        "first_trace_at": datetime(2026, 11, 11, 9, 30), "last_trace_at": datetime(2026, 11, 13, 18),
        "exception_count": 1, "trace_count": 3}


@deliveries(
    trace(8104, "2026-11-11 07:00:00", action="CREATE", desc="无单号", time="bad time"),
)
def test_a_trace_without_out_sid_or_valid_time(built):
    """§4.4: no out_sid is the shipment ''; an invalid trace time falls back to pub_time for the order."""
    assert built.row("SELECT last_action, first_trace_at FROM fact_shipments WHERE tid = 1003 AND out_sid = ''") == {
        "last_action": "CREATE", "first_trace_at": datetime(2026, 11, 11, 7)}
