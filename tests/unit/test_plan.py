"""The planner's "nothing to do" (jushita_etl.warehouse.plan.settled) and its memo: remembered with the catalog's
snapshot id and the landed batch ids, so a build with nothing to do reads one catalog table, and never hides work."""

import json

from support import delivery, envelope, write_replay

from jushita_etl.landing.replay import land_files
from jushita_etl.settings import paths
from jushita_etl.warehouse import db, pipeline
from jushita_etl.warehouse.plan import settled


def land(p, name: str, first_tid: int) -> None:
    records = [delivery(envelope("taobao_trade_TradeCreate", {"tid": first_tid + i, "payment": "1.00"}))
               for i in range(3)]
    p.data_dir.mkdir(parents=True, exist_ok=True)
    land_files([str(write_replay(p.data_dir / f"{name}.jsonl", records))], p.landing, quiet=True)


def test_settled_is_remembered_and_new_landings_or_catalog_commits_are_work_again(tmp_path):
    p = paths(tmp_path / "data")
    memo = p.build_dir / "settled.json"
    land(p, "a", 1)
    pipeline.build_without_dagster(p)
    assert not memo.exists()
    with db.writer(p, prepared=False) as conn:
        first = settled(conn, p.landing, memo)
        assert first is not None and first.reconciliation[0] == 3 and first.unresolved == 0
        assert memo.exists()
        remembered = json.loads(memo.read_text())
        remembered["reconciliation"][0] = 33
        memo.write_text(json.dumps(remembered))  # only a remembered answer can say 33
        assert settled(conn, p.landing, memo).reconciliation[0] == 33

    land(p, "b", 10)  # a new local batch: the manifest's ids changed
    with db.writer(p, prepared=False) as conn:
        assert settled(conn, p.landing, memo) is None
    pipeline.build_without_dagster(p)
    with db.writer(p, prepared=False) as conn:
        assert settled(conn, p.landing, memo).reconciliation[0] == 6
    with db.writer(p) as conn:  # any commit to the catalog (another machine's consumer shipping a batch, say)
        conn.execute("INSERT INTO etl.dirty_keys VALUES ('trade', 1, NULL)")
    with db.writer(p, prepared=False) as conn:
        assert settled(conn, p.landing, memo) is None
