import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# A shell starts background jobs with SIGINT ignored, and every in-process Dagster run leaves SIGTERM set to SIGINT's
# disposition: the servers these tests start would inherit an ignored SIGTERM. The usual Ctrl-C handler keeps both
# ordinary however the suite was launched.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def dagster_home(tmp_path_factory) -> Path:
    """A Dagster instance of the session's own, configured as the project's (dagster_home/dagster.yaml), for the
    CLI and server processes the tests start: the project's instance is the operator's, and two test workers must
    not share one SQLite event log."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(Path(__file__).parents[1] / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@pytest.fixture
def instance(tmp_path):
    """A real, file-backed Dagster instance private to the test."""
    import dagster as dg  # here: the tests without Dagster (tests/unit) never import it

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as inst:
        yield inst


@pytest.fixture
def project_instance(tmp_path, monkeypatch):
    """A real Dagster instance configured by the project's dagster_home/dagster.yaml (its own event log storage),
    private to the test."""
    import dagster as dg

    home = tmp_path / "project_dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).parents[1] / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # dagster.yaml locates the event log through it
    instance = dg.DagsterInstance.get()
    yield instance
    instance.dispose()


@pytest.fixture(scope="session")
def simulated_feed(tmp_path_factory) -> Path:
    """The simulator's feed of 1,200 orders (about 14,000 deliveries, late, duplicated, redelivered and malformed
    ones among them), written once for the session."""
    return _simulated(tmp_path_factory, "feed", orders=1200, seed=21)


@pytest.fixture(scope="session")
def small_simulated_feed(tmp_path_factory) -> Path:
    """About 2,900 deliveries: for the tests that build the same data several times."""
    return _simulated(tmp_path_factory, "small", orders=250, seed=8)


def _simulated(tmp_path_factory, name: str, *, orders: int, seed: int) -> Path:
    from jushita_etl.simulate.feed import FeedConfig, write_feed

    path = tmp_path_factory.mktemp(name) / f"{name}.jsonl"
    with open(path, "wb") as fh:
        write_feed(fh, FeedConfig(orders=orders, seed=seed, late_rate=0.05, duplicate_rate=0.05, redelivery_rate=0.05,
                                  malformed_rate=0.01))
    return path


@pytest.fixture
def warehouse(tmp_path):
    """Open the last published build of a data directory as analysts do (jushita_etl.connect); closed after the test."""
    import jushita_etl

    opened = []

    def open_(p):
        conn = jushita_etl.connect(p.data_dir)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()
