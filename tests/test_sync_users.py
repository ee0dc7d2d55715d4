"""The sync_users asset: sellers seen in the events, their sync status from the TOP gateway; never fails the
warehouse when the gateway is down."""

import threading

import dagster as dg
import pytest
from support import delivery, envelope, land_and_build

from jushita_etl.defs.resources import TopResource, WarehouseResource
from jushita_etl.defs.sync_users.assets import sync_users, sync_users_current
from jushita_etl.top.gateway import GatewayState, make_server
from jushita_etl.warehouse import db

APP_KEY, SECRET = "12497914", "gw-secret"


@pytest.fixture
def gateway(monkeypatch):
    monkeypatch.setenv("JUSHITA_APP_SECRET", SECRET)
    state = GatewayState({APP_KEY: SECRET}, {"k1": "花间专营店1"})
    server = make_server(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/router/rest"
    server.shutdown()


def test_sync_users_rows_and_unreachable_gateway(tmp_path, instance, gateway):
    state, url = gateway
    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": i}, user_nick=nick, id=100 + i))
               for i, nick in enumerate(["花间专营店1", "悦己数码2", "花间专营店1"])]
    p = land_and_build(tmp_path / "data", records, instance)
    from jushita_etl.top.client import TopClient

    TopClient(app_key=APP_KEY, app_secret=SECRET, url=url).user_add(["taobao_trade_TradeCreate"], session="k1")
    resources = {"warehouse": WarehouseResource(data_dir=str(p.data_dir)), "top": TopResource(url=url, app_key=APP_KEY)}
    result = dg.materialize([sync_users, sync_users_current], resources=resources, instance=instance)
    assert result.success
    with db.writer(p) as conn:  # materialized alone, not published: the writer's latest state
        rows = conn.execute("SELECT user_nick, user_id IS NOT NULL, is_valid, topics FROM sync_users ORDER BY 1").fetchall()
    assert rows == [("悦己数码2", False, None, []), ("花间专营店1", True, True, ["taobao_trade_TradeCreate"])]

    down = {**resources, "top": TopResource(url="http://127.0.0.1:9/router/rest", app_key=APP_KEY)}
    result = dg.materialize([sync_users, sync_users_current], resources=down, instance=instance)
    assert result.success, "an unreachable gateway never fails the warehouse"
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    with db.writer(p) as conn:
        assert conn.execute("SELECT count(*) FROM sync_users").fetchone()[0] == 2, "the last known status is kept"
