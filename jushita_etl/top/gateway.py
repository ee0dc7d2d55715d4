"""A local TOP gateway for tests and the demo — a stand-in for the public router, on 127.0.0.1.

It verifies what the real gateway verifies for these APIs (required system parameters, the app key, all three
sign methods, a 10-minute timestamp skew, sessions where the API needs authorisation), keeps sync users and
groups (in memory, optionally in a JSON file), throttles with an ``isp.*`` answer past a call rate, and answers
with real-shaped JSON and ``error_response`` objects.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections import deque
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jushita_etl.top.signing import CHINA, SIGN_METHODS, TIMESTAMP_FORMAT, sign

ALL_TOPICS = ["taobao_trade_TradeCreate", "taobao_trade_TradeBuyerPay", "taobao_trade_TradeSellerShip",
              "taobao_trade_TradeSuccess", "taobao_trade_TradeClose", "taobao_refund_RefundCreated",
              "taobao_refund_RefundSuccess", "taobao_item_ItemAdd", "taobao_item_ItemUpdate",
              "taobao_logistics_LogsticDetailTrace", "taobao_traderate_ImprBadTag", "taobao_fenxiao_FxOrderCreate"]
NEEDS_SESSION = {"taobao.jushita.jms.user.add"}
REQUIRED = {
    "taobao.jushita.jms.user.add": [],
    "taobao.jushita.jms.user.delete": ["user_nick"],
    "taobao.jushita.jms.user.get": ["user_nick"],
    "taobao.jushita.jms.topics.get": ["nick"],
    "taobao.jushita.jms.group.add": ["group_name", "user_nicks"],
    "taobao.jushita.jms.group.get": [],
    "taobao.jushita.jms.group.delete": ["group_name"],
}


class ApiError(Exception):
    def __init__(self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None):
        super().__init__(msg)
        self.body = {"code": code, "msg": msg, **({"sub_code": sub_code} if sub_code else {}),
                     **({"sub_msg": sub_msg} if sub_msg else {})}


def now_text() -> str:
    return datetime.now(CHINA).strftime(TIMESTAMP_FORMAT)


class GatewayState:
    """Apps, sessions (session key -> seller nick), sync users and groups."""

    def __init__(self, apps: dict[str, str], sessions: dict[str, str], state_file: Path | None = None,
                 calls_per_window: int = 0, window_seconds: float = 60.0):
        self.apps, self.sessions, self.file = apps, sessions, state_file
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.calls: deque[float] = deque()
        self.calls_per_window, self.window_seconds = calls_per_window, window_seconds
        self._ids = itertools.count(1000)
        if state_file and state_file.exists():
            data = json.loads(state_file.read_text())
            self.users, self.groups = data.get("users", {}), data.get("groups", {})

    def save(self) -> None:
        if self.file:
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"users": self.users, "groups": self.groups}, ensure_ascii=False))
            tmp.replace(self.file)

    def throttle(self) -> None:
        if not self.calls_per_window:
            return
        now = time.monotonic()
        while self.calls and now - self.calls[0] > self.window_seconds:
            self.calls.popleft()
        if len(self.calls) >= self.calls_per_window:
            raise ApiError(7, "App Call Limited", "isp.call-limited",
                           f"this app may call {self.calls_per_window} times per {self.window_seconds:g}s")
        self.calls.append(now)


def handle(state: GatewayState, params: dict[str, str]) -> dict:
    """One API call: verify, then dispatch. Raises ApiError for every refusal."""
    for name, code, msg in (("method", 21, "Missing Method"), ("app_key", 28, "Missing App Key"),
                            ("timestamp", 30, "Missing Timestamp"), ("sign", 24, "Missing Signature"),
                            ("v", 32, "Missing Version")):
        if not params.get(name):
            raise ApiError(code, msg, f"isv.missing-parameter:{name}", f"parameter {name} is required")
    api = params["method"]
    if api not in REQUIRED:
        raise ApiError(22, "Invalid Method", "isv.invalid-method", f"{api} is not offered by this gateway")
    secret = state.apps.get(params["app_key"])
    if secret is None:
        raise ApiError(29, "Invalid App Key", "isv.appkey-not-exists", "unknown app_key")
    if params["v"] != "2.0":
        raise ApiError(34, "Unsupported Version", "isv.invalid-parameter:v", "v must be 2.0")
    method = params.get("sign_method", "md5")
    if method not in SIGN_METHODS:
        raise ApiError(41, "Invalid Arguments", "isv.invalid-parameter:sign_method", f"unsupported sign_method {method}")
    try:
        sent = datetime.strptime(params["timestamp"], TIMESTAMP_FORMAT).replace(tzinfo=CHINA)
    except ValueError:
        raise ApiError(31, "Invalid Timestamp", "isv.invalid-parameter:timestamp", "use yyyy-MM-dd HH:mm:ss (GMT+8)") from None
    if abs((datetime.now(CHINA) - sent).total_seconds()) > 600:
        raise ApiError(31, "Invalid Timestamp", "isv.invalid-timestamp", "timestamp is more than 10 minutes off")
    if sign(params, secret, method) != params["sign"]:
        raise ApiError(25, "Invalid signature", "isv.invalid-signature", "the sign does not match the parameters")
    nick = None
    if api in NEEDS_SESSION:
        if not params.get("session"):
            raise ApiError(26, "Missing Session", "isv.missing-session", "this API needs the seller's authorisation")
        nick = state.sessions.get(params["session"])
        if nick is None:
            raise ApiError(27, "Invalid session", "isv.invalid-session", "session key is invalid or expired")
    for name in REQUIRED[api]:
        if not params.get(name):
            raise ApiError(40, "Missing Required Arguments", f"isv.missing-parameter:{name}", f"{name} is required")
    with state.lock:
        state.throttle()
        result = API[api](state, params, nick)
        state.save()
    return {api.removeprefix("taobao.").replace(".", "_") + "_response": {**result, "request_id": f"dev{next(state._ids)}"}}


def _user_add(state, params, nick):
    topics = [t for t in (params.get("topic_names") or "").split(",") if t]
    if len(topics) > 20:
        raise ApiError(41, "Invalid Arguments", "isv.invalid-parameter:topic_names", "at most 20 topics")
    user = state.users.get(nick)
    stamp = now_text()
    state.users[nick] = {"user_nick": nick, "user_id": user["user_id"] if user else 2_000_000_000 + next(state._ids),
                         "is_valid": True, "created": user["created"] if user else stamp, "modified": stamp,
                         "topics": topics or ALL_TOPICS}
    return {"is_success": True}


def _user_delete(state, params, nick):
    if state.users.pop(params["user_nick"], None) is None:
        raise ApiError(15, "Remote service error", "isv.user-not-exist", f"{params['user_nick']} is not a sync user")
    return {"is_success": True}


def _user_get(state, params, nick):
    user = state.users.get(params["user_nick"])
    if user is None:
        return {}
    return {"ons_user": {k: user[k] for k in ("user_nick", "user_id", "is_valid", "created", "modified")}}


def _topics_get(state, params, nick):
    user = state.users.get(params["nick"])
    topics = user["topics"] if user else []
    return {"results": {"string": topics}, "result_code": "0" if user else "user-not-exist",
            "result_message": "ok" if user else "not a sync user"}


def _group_add(state, params, nick):
    name = params["group_name"]
    if len(name) > 32 or name.startswith("default"):
        raise ApiError(41, "Invalid Arguments", "isv.invalid-parameter:group_name", "at most 32 characters, not starting with 'default'")
    nicks = [n for n in params["user_nicks"].split(",") if n]
    if len(nicks) > 20:
        raise ApiError(41, "Invalid Arguments", "isv.invalid-parameter:user_nicks", "at most 20 nicks per call")
    stamp = now_text()
    group = state.groups.setdefault(name, {"id": next(state._ids), "name": name, "appkey": params["app_key"],
                                           "description": "", "gmt_create": stamp, "user_nicks": []})
    group["user_nicks"] = sorted(set(group["user_nicks"]) | set(nicks))
    group["gmt_modified"] = stamp
    return {"group_name": name, "created": group["gmt_create"]}


def _group_get(state, params, nick):
    names = [n for n in (params.get("group_names") or "").split(",") if n]
    groups = [g for name, g in state.groups.items() if not names or name in names]
    page_no, page_size = int(params.get("page_no") or 1), int(params.get("page_size") or 40)
    page = groups[(page_no - 1) * page_size: page_no * page_size]
    shown = [{k: v for k, v in g.items() if names or k != "user_nicks"} for g in page]
    return {"total_results": len(groups), "groups": {"msg_group_d_o": shown}}


def _group_delete(state, params, nick):
    name = params["group_name"]
    group = state.groups.get(name)
    if group is None:
        raise ApiError(15, "Remote service error", "isv.group-not-exist", f"no group named {name}")
    nicks = [n for n in (params.get("nicks") or "").split(",") if n]
    if nicks:
        group["user_nicks"] = [n for n in group["user_nicks"] if n not in nicks]
    if not nicks or not group["user_nicks"]:
        del state.groups[name]
    return {"is_success": True}


API = {
    "taobao.jushita.jms.user.add": _user_add, "taobao.jushita.jms.user.delete": _user_delete,
    "taobao.jushita.jms.user.get": _user_get, "taobao.jushita.jms.topics.get": _topics_get,
    "taobao.jushita.jms.group.add": _group_add, "taobao.jushita.jms.group.get": _group_get,
    "taobao.jushita.jms.group.delete": _group_delete,
}


def make_server(state: GatewayState, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, params: dict[str, str]) -> None:
            try:
                payload = handle(state, params)
            except ApiError as exc:
                payload = {"error_response": exc.body}
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
            self._answer({k: v[-1] for k, v in {**query, **form}.items()})

        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
            self._answer({k: v[-1] for k, v in query.items()})

        def log_message(self, *args):  # requests carry sessions and signs: never log them
            pass

    return ThreadingHTTPServer((host, port), Handler)
