"""The scenario tables' Dagster checks (jushita_etl.defs.scenarios.checks)."""

import dagster as dg

from jushita_etl.defs.scenarios.checks import ALERT_GROWTH_WARN, alert_volume


def test_alert_volume_warns_on_growth_not_on_a_first_build():
    assert alert_volume("shipment_alerts", 0, 500).passed  # a first build is no growth
    assert alert_volume("shipment_alerts", 100, 100 + int(100 * ALERT_GROWTH_WARN)).passed
    grown = alert_volume("shipment_alerts", 100, 101 + int(100 * ALERT_GROWTH_WARN))
    assert not grown.passed and grown.severity == dg.AssetCheckSeverity.WARN
