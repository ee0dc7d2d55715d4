"""``jushita-etl demo``: the whole product on an embedded default, start to finish.

simulated feed → landing zone → Dagster build → summary and three analyst queries. The full path
(TOP gateway → local broker → real RocketMQ client) is added on top of this by the demo command when available.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from jushita_etl.settings import Paths


@dataclass
class DemoOptions:
    sellers: int = 4
    orders: int = 2000
    start: str = "2026-11-09"
    days: int = 5
    seed: int = 7


def simulate_feed(paths: Paths, options: DemoOptions):
    from jushita_etl.simulate.feed import FeedConfig, write_feed

    feed = paths.data_dir / "demo" / "feed.jsonl"
    feed.parent.mkdir(parents=True, exist_ok=True)
    with open(feed, "wb", buffering=1 << 20) as fh:
        stats = write_feed(fh, FeedConfig(sellers=options.sellers, orders=options.orders, start=options.start,
                                          days=options.days, seed=options.seed))
    return feed, stats


def step(title: str):
    print(f"\n== {title}", flush=True)
    return time.perf_counter()
