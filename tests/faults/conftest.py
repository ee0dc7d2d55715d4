"""The fault tests' shared feed and its oracle, once per session (see fault_support.py)."""

import pytest

from fault_support import Feed, clean_build, make_feed


@pytest.fixture(scope="session")
def feed(tmp_path_factory) -> Feed:
    return make_feed(tmp_path_factory.mktemp("fault-feed"))


@pytest.fixture(scope="session")
def oracle(feed, tmp_path_factory) -> dict[str, list[tuple]]:
    return clean_build(feed, tmp_path_factory.mktemp("fault-oracle"))
