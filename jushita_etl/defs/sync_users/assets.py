"""``sync_users``: which sellers' messages are flowing, from the TOP JMS APIs, refreshed on a schedule.

Imported on use: pyarrow (with numpy), by the asset itself: every process that loads the code location
(`jushita-etl build` included) would pay about 0.1 s for it."""

from datetime import datetime

import dagster as dg

from jushita_etl.defs.resources import WAREHOUSE_POOL, TopResource, WarehouseResource
from jushita_etl.top.client import TopClient, TopError, TopTransportError, unwrap_list
from jushita_etl.warehouse import db, sql


def ask(client: TopClient, nick: str, checked_at: datetime) -> dict:
    user = client.user_get(nick).get("ons_user") or {}
    topics = unwrap_list(client.topics_get(nick).get("results")) if user else []
    return {"user_nick": nick, "user_id": user.get("user_id"), "is_valid": user.get("is_valid"),
            "created": user.get("created"), "modified": user.get("modified"), "topics": topics, "checked_at": checked_at}


@dg.asset(
    group_name="sync_users", kinds={"ducklake"}, pool=WAREHOUSE_POOL, deps=["trade_events"],
    description="Grain: one row per seller nick seen in the event tables. Provenance: taobao.jushita.jms.user.get "
    "and .topics.get for each nick (user_id NULL: not a sync user; is_valid false: authorisation expired).",
)
def sync_users(context: dg.AssetExecutionContext, warehouse: WarehouseResource, top: TopResource) -> dg.MaterializeResult:
    import pyarrow as pa

    from jushita_etl.landing.batches import china_now

    api_results = pa.schema([("user_nick", pa.string()), ("user_id", pa.int64()), ("is_valid", pa.bool_()),
                             ("created", pa.string()), ("modified", pa.string()), ("topics", pa.list_(pa.string())),
                             ("checked_at", pa.timestamp("ms"))])
    with warehouse.writer() as conn:
        nicks = [row[0] for row in conn.execute(sql.load("internal/seller_nicks")).fetchall()]
    checked_at = china_now()
    client, rows, error = top.client(), [], None
    try:
        rows = [ask(client, nick, checked_at) for nick in nicks]
    except (TopTransportError, TopError) as exc:  # keep the last known status; the check warns
        error = str(exc)
        context.log.warning(f"sync_users not refreshed: {error}")
    with warehouse.writer() as conn, db.transaction(conn):
        if error is None:
            conn.register("api_results", pa.Table.from_pylist(rows, schema=api_results))
            conn.execute("DELETE FROM sync_users")
            conn.execute(f"INSERT INTO sync_users BY NAME {sql.load('sync_users')}")
            conn.unregister("api_results")
        conn.execute("INSERT INTO etl.sync_users_refreshes VALUES (?, ?, ?)", [checked_at, error is None, error])
        total = conn.execute("SELECT count(*) FROM sync_users").fetchone()[0]
        expired = conn.execute("SELECT count(*) FROM sync_users WHERE is_valid = false").fetchone()[0]
    return dg.MaterializeResult(metadata={"dagster/row_count": total, "gateway_reachable": error is None,
                                          "expired_authorisations": expired, **({"error": error} if error else {})})


@dg.asset_check(asset=sync_users, description="Warns when the last refresh could not reach the TOP gateway, or when "
                "a seller's authorisation has expired.")
def sync_users_current(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.writer() as conn:
        last = conn.execute("SELECT checked_at, reachable, error FROM etl.sync_users_refreshes ORDER BY checked_at DESC LIMIT 1").fetchone()
        expired = [r[0] for r in conn.execute("SELECT user_nick FROM sync_users WHERE is_valid = false").fetchall()]
    passed = bool(last and last[1]) and not expired
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata={
        "last_refresh": str(last[0]) if last else "never", "gateway_reachable": bool(last and last[1]),
        "error": (last[2] if last else None) or "", "expired": expired})
