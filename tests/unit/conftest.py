"""Fixtures of the SQL rule tests (no Dagster): a module's cases built once, or an empty lakehouse of a test's own
(see lakehouse.py)."""

import pytest
from lakehouse import MARK, Lakehouse, declared


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARK}(*records): replay lines a unit test's case lands (lakehouse.py)")


@pytest.fixture(scope="module")
def built(request, tmp_path_factory) -> Lakehouse:
    """Every delivery the module's tests declare (``@deliveries``), landed as one batch and built once."""
    records = declared(request.module)
    assert records, f"{request.module.__name__} declares no deliveries"
    lakehouse = Lakehouse(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]) / "data")
    lakehouse.build(records)
    yield lakehouse
    lakehouse.close()


@pytest.fixture
def lakehouse(tmp_path) -> Lakehouse:
    """An empty lakehouse of the test's own, for rules about whole tables or about several builds."""
    lakehouse = Lakehouse(tmp_path / "data")
    yield lakehouse
    lakehouse.close()
