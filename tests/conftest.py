import signal
import sys
from pathlib import Path

import dagster as dg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

# A shell starts background jobs with SIGINT ignored, and every in-process Dagster run leaves SIGTERM set to SIGINT's
# disposition: the servers these tests start would inherit an ignored SIGTERM. The usual Ctrl-C handler keeps both
# ordinary however the suite was launched.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def instance(tmp_path):
    """A real, file-backed Dagster instance private to the test."""
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as inst:
        yield inst


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
