"""``jushita-etl demo``: the whole product on an embedded default, start to finish.

local TOP gateway → demo sellers added to the message sync → simulated feed → local broker → published with the
real RocketMQ producer → consumed with the real consumer into the landing zone → Dagster build → summary and three
analyst queries → broker and gateway stopped. ``--direct`` lands the feed file without the broker.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from jushita_etl.settings import Paths
from jushita_etl.simulate.events import seller_nick
from jushita_etl.simulate.feed import FeedConfig, write_feed
from jushita_etl.top.gateway import GatewayState, make_server


def simulate_feed(paths: Paths, options: FeedConfig):
    feed = paths.data_dir / "demo" / "feed.jsonl"
    feed.parent.mkdir(parents=True, exist_ok=True)
    with open(feed, "wb", buffering=1 << 20) as fh:
        stats = write_feed(fh, options)
    return feed, stats


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


@contextmanager
def demo_gateway(options: FeedConfig):
    """A local TOP gateway with a throwaway app secret and one session per demo seller (this process only)."""
    app_key = os.environ.setdefault("JUSHITA_APP_KEY", "12497914")
    secret = os.environ.setdefault("JUSHITA_APP_SECRET", secrets.token_hex(16))
    sessions = {secrets.token_hex(12): seller_nick(i) for i in range(options.sellers)}
    server = make_server(GatewayState({app_key: secret}, dict(sessions)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/router/rest"
    try:
        yield url, sessions
    finally:
        server.shutdown()


@contextmanager
def demo_broker(store: Path):
    """The dev broker as a child process on a free 127.0.0.1 port; stopped on the way out."""
    proc = subprocess.Popen([sys.executable, "-m", "jushita_etl.cli", "broker", "--port", "0", "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        if not match:
            raise RuntimeError(f"the local broker did not start: {line.strip()}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
