"""The TOP subcommands: the Jushita sync users and groups, and the local TOP gateway stand-in.

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import argparse
import sys
from pathlib import Path

from jushita_etl.cli.common import UserError


def _top_client(args):
    from jushita_etl.top.client import TopClient

    try:
        client = TopClient.from_env(url=args.url, sign_method=args.sign_method, session=getattr(args, "session", None))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.debug:
        client.debug = lambda line: print(f"debug: {line}", file=sys.stderr)
    return client


def _top_call(args, fn, human):
    import orjson

    from jushita_etl.top.client import TopError, TopTransportError

    client = _top_client(args)
    try:
        result = fn(client)
    except TopError as exc:
        raise UserError(exc.sub_msg or exc.msg or str(exc)) from None
    except TopTransportError as exc:
        raise UserError(str(exc)) from None
    result = {k: v for k, v in result.items() if k != "request_id"}
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(human(result))
    return 0


def cmd_users(args) -> int:
    from jushita_etl.top.client import unwrap_list

    nick = getattr(args, "nick", None)
    if args.action == "add":
        topics = [t for t in (args.topics or "").split(",") if t] or None
        return _top_call(args, lambda c: c.user_add(topics), lambda r: "added to the message sync" if r.get("is_success") else f"not added: {r}")
    if args.action == "delete":
        return _top_call(args, lambda c: c.user_delete(nick), lambda r: f"{nick} removed from the message sync")
    if args.action == "get":
        def show(r):
            user = r.get("ons_user")
            if not user:
                return f"{nick} is not a sync user"
            state = "valid" if user.get("is_valid") else "AUTHORISATION EXPIRED"
            return f"{user['user_nick']} (user_id {user['user_id']}): {state}; enabled {user.get('created')}, last {user.get('modified')}"
        return _top_call(args, lambda c: c.user_get(nick), show)
    return _top_call(args, lambda c: c.topics_get(nick),
                     lambda r: "\n".join(unwrap_list(r.get("results"))) or f"no topics for {nick}")


def cmd_groups(args) -> int:
    from jushita_etl.top.client import unwrap_list

    nicks = [n for n in (getattr(args, "nicks", None) or "").split(",") if n]
    if args.action == "add":
        if not nicks:
            raise UserError("groups add needs --nicks a,b")
        return _top_call(args, lambda c: c.group_add(args.name, nicks), lambda r: f"group {r.get('group_name')} created {r.get('created')}")
    if args.action == "get":
        def show(r):
            groups = unwrap_list(r.get("groups"))
            lines = [f"{g.get('name')} (id {g.get('id')}, created {g.get('gmt_create')})" +
                     (f": {', '.join(g['user_nicks'])}" if g.get("user_nicks") else "") for g in groups]
            return "\n".join([f"{r.get('total_results', len(groups))} group(s)", *lines])
        return _top_call(args, lambda c: c.group_get(args.names or None), show)
    return _top_call(args, lambda c: c.group_delete(args.name, nicks or None),
                     lambda r: f"group {args.name} " + ("updated" if nicks else "deleted"))


def cmd_top_gateway(args) -> int:
    import json
    import os

    from jushita_etl.top.gateway import GatewayState, make_server

    app_key, secret = os.environ.get("JUSHITA_APP_KEY"), os.environ.get("JUSHITA_APP_SECRET")
    if not app_key or not secret:
        raise UserError("the gateway verifies signatures: set JUSHITA_APP_KEY and JUSHITA_APP_SECRET")
    sessions = {}
    for pair in filter(None, os.environ.get("JUSHITA_TOP_GATEWAY_SESSIONS", "").split(",")):
        nick, _, key = pair.partition("=")
        sessions[key] = nick
    if args.sessions_file:
        sessions.update(json.loads(Path(args.sessions_file).read_text()))
    state = GatewayState({app_key: secret}, sessions, Path(args.state) if args.state else None,
                         calls_per_window=args.calls_per_window, window_seconds=args.window)
    server = make_server(state, args.host, args.port)
    print(f"dev TOP gateway listening on http://{server.server_address[0]}:{server.server_address[1]}/router/rest", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _register_top(sub, common):
    from jushita_etl.top.signing import SIGN_METHODS

    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--url", default=None, help="TOP gateway (default $JUSHITA_TOP_URL or the public router)")
    top.add_argument("--sign-method", choices=SIGN_METHODS, default=None, help="default $JUSHITA_TOP_SIGN_METHOD or md5")
    top.add_argument("--json", action="store_true", help="print the API's result object as JSON")
    top.add_argument("--debug", action="store_true", help="print requests (secrets masked)")

    users = sub.add_parser("users", help="sellers in the Jushita message sync (taobao.jushita.jms.user.*)",
                           description="Credentials: $JUSHITA_APP_KEY, $JUSHITA_APP_SECRET, $JUSHITA_SESSION_KEY.")
    actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("add", parents=[top], help="add the seller of the session to the sync")
    p.add_argument("--topics", help="comma-separated topics (default: every topic the app subscribes)")
    p.add_argument("--session", help="the seller's session key (default $JUSHITA_SESSION_KEY)")
    for action, help_ in (("delete", "remove a seller from the sync"), ("get", "is a seller's sync on and valid?"),
                          ("topics", "topics enabled for a seller")):
        p = actions.add_parser(action, parents=[top], help=help_)
        p.add_argument("nick")
    users.set_defaults(func=cmd_users)

    groups = sub.add_parser("groups", help="message groups (taobao.jushita.jms.group.*)")
    actions = groups.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("add", parents=[top], help="create a group or add sellers to it")
    p.add_argument("name")
    p.add_argument("--nicks", required=True)
    p = actions.add_parser("get", parents=[top], help="list groups")
    p.add_argument("names", nargs="*")
    p = actions.add_parser("delete", parents=[top], help="delete a group, or only some sellers from it")
    p.add_argument("name")
    p.add_argument("--nicks")
    groups.set_defaults(func=cmd_groups)

    p = sub.add_parser("top-gateway", help="run the local TOP gateway stand-in (development and tests)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8780)
    p.add_argument("--state", help="JSON file that keeps sync users and groups across restarts")
    p.add_argument("--sessions-file", help="JSON {session_key: seller_nick}; also $JUSHITA_TOP_GATEWAY_SESSIONS=nick=key,...")
    p.add_argument("--calls-per-window", type=int, default=0, help="throttle past this many calls per window (0: never)")
    p.add_argument("--window", type=float, default=60.0, help="throttle window in seconds")
    p.set_defaults(func=cmd_top_gateway)


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_top(sub, common)
