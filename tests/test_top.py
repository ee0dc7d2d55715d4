"""TOP signing, the JMS client and CLI against the local gateway, errors and the retry rule."""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest

from jushita_etl.top.client import TopClient, TopError, TopTransportError
from jushita_etl.top.gateway import GatewayState, make_server
from jushita_etl.top.signing import CHINA, sign

APP_KEY, SECRET = "12497914", "test-secret-值"
SESSIONS = {"sess-flower": "花间专营店1", "sess-digital": "悦己数码2"}


def test_sign_vectors_computed_independently():
    params = {"method": "taobao.jushita.jms.user.get", "app_key": APP_KEY, "timestamp": "2026-11-11 10:00:00",
              "v": "2.0", "format": "json", "user_nick": "花间专营店1", "empty": "", "sign": "ignored"}
    joined = "app_key12497914formatjsonmethodtaobao.jushita.jms.user.gettimestamp2026-11-11 10:00:00user_nick花间专营店1v2.0"
    key, text = SECRET.encode(), joined.encode("utf-8")
    assert sign({**params, "sign_method": "md5"}, SECRET, "md5") == hashlib.md5(
        key + (joined[:joined.index("timestamp")] + "sign_methodmd5" + joined[joined.index("timestamp"):]).encode() + key).hexdigest().upper()
    without_method = {k: v for k, v in params.items()}
    assert sign(without_method, SECRET, "md5") == hashlib.md5(key + text + key).hexdigest().upper()
    assert sign(without_method, SECRET, "hmac") == hmac.new(key, text, hashlib.md5).hexdigest().upper()
    assert sign(without_method, SECRET, "hmac-sha256") == hmac.new(key, text, hashlib.sha256).hexdigest().upper()
    with pytest.raises(ValueError):
        sign(params, SECRET, "sha1")


@pytest.fixture
def gateway():
    state = GatewayState({APP_KEY: SECRET}, dict(SESSIONS), calls_per_window=0)
    server = make_server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/router/rest"
    server.shutdown()


def client(url, **kw):
    return TopClient(app_key=APP_KEY, app_secret=SECRET, url=url, backoff=0.05, **kw)


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_every_api_with_every_sign_method(gateway, method):
    state, url = gateway
    c = client(url, sign_method=method)
    assert c.user_add(["taobao_trade_TradeCreate"], session="sess-flower")["is_success"] is True
    user = c.user_get("花间专营店1")["ons_user"]
    assert user["user_nick"] == "花间专营店1" and user["is_valid"] is True and isinstance(user["user_id"], int)
    assert c.topics_get("花间专营店1")["results"] == {"string": ["taobao_trade_TradeCreate"]}
    assert c.group_add("vip", ["花间专营店1", "悦己数码2"])["group_name"] == "vip"
    assert c.group_get(["vip"])["total_results"] == 1
    assert c.group_delete("vip", ["悦己数码2"])["is_success"] is True
    assert state.groups["vip"]["user_nicks"] == ["花间专营店1"]
    assert c.group_delete("vip")["is_success"] is True and "vip" not in state.groups
    assert c.user_delete("花间专营店1")["is_success"] is True
    assert "ons_user" not in c.user_get("花间专营店1")


def test_error_kinds(gateway):
    state, url = gateway
    with pytest.raises(TopError) as bad_sign:
        TopClient(app_key=APP_KEY, app_secret="wrong", url=url).user_get("x")
    assert bad_sign.value.code == 25 and not bad_sign.value.retryable
    with pytest.raises(TopError) as bad_session:
        client(url).user_add(session="nope")
    assert bad_session.value.code == 27 and "invalid" in bad_session.value.sub_msg
    with pytest.raises(TopError) as no_session:
        client(url).user_add()
    assert no_session.value.code == 26
    with pytest.raises(TopError) as missing:
        client(url).call("taobao.jushita.jms.user.get", {})
    assert missing.value.code == 40 and "user_nick" in missing.value.sub_code
    with pytest.raises(TopError) as unknown_app:
        TopClient(app_key="999", app_secret=SECRET, url=url).user_get("x")
    assert unknown_app.value.code == 29


def test_timestamp_skew_is_refused(gateway, monkeypatch):
    state, url = gateway
    import jushita_etl.top.client as top_client

    monkeypatch.setattr(top_client, "timestamp", lambda: (datetime.now(CHINA) - timedelta(minutes=11)).strftime("%Y-%m-%d %H:%M:%S"))
    with pytest.raises(TopError) as skew:
        client(url).user_get("x")
    assert skew.value.code == 31


def test_retries_throttling_but_not_signature_errors(gateway):
    state, url = gateway
    state.calls_per_window, state.window_seconds = 2, 0.3
    attempts = []
    c = client(url, retries=4)
    c.debug = attempts.append
    for _ in range(4):
        c.user_get("x")  # throttled calls are retried with backoff until the window frees up
    assert len(attempts) > 4
    attempts.clear()
    bad = TopClient(app_key=APP_KEY, app_secret="wrong", url=url, backoff=0.05, retries=4)
    bad.debug = attempts.append
    with pytest.raises(TopError):
        bad.user_get("x")
    assert len(attempts) == 1, "signature errors are final"


def test_throttled_past_retries_is_an_isp_error(gateway):
    state, url = gateway
    state.calls_per_window, state.window_seconds = 1, 60
    c = client(url, retries=1)
    c.user_get("x")
    with pytest.raises(TopError) as throttled:
        c.user_get("x")
    assert throttled.value.code == 7 and throttled.value.sub_code.startswith("isp.")


def test_transport_errors_are_retried_then_reported():
    attempts = []
    c = TopClient(app_key=APP_KEY, app_secret=SECRET, url="http://127.0.0.1:9/router/rest", retries=2, backoff=0.01, timeout=1)
    c.debug = attempts.append
    with pytest.raises(TopTransportError):
        c.user_get("x")
    assert len(attempts) == 3


def test_cli_against_the_gateway_process(tmp_path):
    env = {**os.environ, "JUSHITA_APP_KEY": APP_KEY, "JUSHITA_APP_SECRET": SECRET,
           "JUSHITA_TOP_GATEWAY_SESSIONS": "花间专营店1=sess-flower"}
    gw = subprocess.Popen([sys.executable, "-m", "jushita_etl.cli", "top-gateway", "--port", "0"], env=env,
                          stdout=subprocess.PIPE, text=True)
    try:
        url = gw.stdout.readline().split()[-1]
        env["JUSHITA_TOP_URL"] = url

        def cli(*args, extra=None):
            return subprocess.run([sys.executable, "-m", "jushita_etl.cli", *args], capture_output=True, text=True,
                                  env={**env, **(extra or {})})

        added = cli("users", "add", "--topics", "taobao_trade_TradeCreate", extra={"JUSHITA_SESSION_KEY": "sess-flower"})
        assert added.returncode == 0, added.stderr
        got = cli("users", "get", "花间专营店1", "--json", "--sign-method", "hmac-sha256")
        assert got.returncode == 0 and json.loads(got.stdout)["ons_user"]["user_nick"] == "花间专营店1"
        assert "taobao_trade_TradeCreate" in cli("users", "topics", "花间专营店1", "--sign-method", "hmac").stdout
        assert cli("groups", "add", "g1", "--nicks", "花间专营店1").returncode == 0
        assert "g1" in cli("groups", "get").stdout
        assert cli("groups", "delete", "g1").returncode == 0
        wrong = cli("users", "get", "x", extra={"JUSHITA_APP_SECRET": "nope"})
        assert wrong.returncode == 1 and wrong.stderr.strip() == "jushita-etl: the sign does not match the parameters"
        debug = cli("users", "add", "--debug", extra={"JUSHITA_SESSION_KEY": "sess-flower"})
        assert "sess-flower" not in debug.stderr and SECRET not in debug.stderr and "session=***" in debug.stderr
        assert cli("users", "delete", "花间专营店1").returncode == 0
    finally:
        gw.terminate()
        gw.wait()
