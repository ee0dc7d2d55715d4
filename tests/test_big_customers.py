"""Big-customer isolation (交易, contract v2 §6's seed scenario for trades): a seller put into a message group gets
a consumer group of its own next to the default one, through the local broker. Assumed routing (the platform does
not document it): a group's messages carry the group name as their RocketMQ tag, the default group's `default`, so
each consumer group subscribes with a tag filter. Both land into the same data directory; the warehouse equals
landing the whole feed directly, nothing doubled."""

from mq_support import BrokerProcess, consumer, run
from support import delivery, envelope, write_replay

import jushita_etl

BIG = "大客户旗舰店"


def feed():
    rows = []
    for i in range(60):
        big = i % 3 == 0
        body = envelope("taobao_trade_TradeCreate", {"tid": 5000 + i, "seller_nick": BIG if big else "小店",
                                                      "payment": "99.00"},
                        user_nick=BIG if big else "小店", pub_time=f"2026-11-11 {10 + i % 10:02d}:00:00")
        rows.append(delivery(body, tags="vip" if big else "default"))
    return rows


def test_a_big_customer_group_has_its_own_consumer_and_nothing_doubles(tmp_path, instance):
    replay = write_replay(tmp_path / "feed.jsonl", feed())
    data = tmp_path / "data"
    env = {"DAGSTER_HOME": instance.root_directory}
    broker = BrokerProcess()
    try:
        assert run("publish", str(replay), "--namesrv", broker.address, "--topic", "JMS",
                   "--data-dir", str(tmp_path / "pub")).returncode == 0
        default = consumer(data, broker.address, "GID_default", "JMS", "--tags", "default", "--idle-timeout", "4")
        vip = consumer(data, broker.address, "GID_vip", "JMS", "--tags", "vip", "--threads", "16",
                       "--idle-timeout", "4")
        outputs = {name: proc.communicate(timeout=180) for name, proc in (("default", default), ("vip", vip))}
        assert (default.returncode, vip.returncode) == (0, 0), (  # each one's last lines, in full
            f"default: {outputs['default'][1][-1500:]}\nvip: {outputs['vip'][1][-1500:]}")
    finally:
        broker.stop()
    assert "landed 40 deliveries" in outputs["default"][0]  # each group consumed its own sellers' messages only
    assert "landed 20 deliveries" in outputs["vip"][0]

    built = run("build", "--data-dir", str(data), env=env, timeout=600)
    assert built.returncode == 0, built.stderr
    direct = tmp_path / "direct"
    assert run("land", "--data-dir", str(direct), str(replay), env=env).returncode == 0
    assert run("build", "--data-dir", str(direct), env=env, timeout=600).returncode == 0

    def orders(path):
        conn = jushita_etl.connect(path)
        try:
            return conn.execute("SELECT seller_nick, count(*), sum(payment) FROM fact_orders GROUP BY 1 ORDER BY 1"
                                ).fetchall()
        finally:
            conn.close()

    assert orders(data) == orders(direct) == [("大客户旗舰店", 20, 1980), ("小店", 40, 3960)]
