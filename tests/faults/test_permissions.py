"""Fault 6: a read-only data directory, or one the process may not write: one clear line and a non-zero exit for
landing, building and consuming; analysts still read; once writable again the result is exact."""

from __future__ import annotations

import subprocess

import pytest
from fault_support import WITHOUT_OVERRIDE, assert_equals_oracle, read_only, run_cli

from jushita_etl.build import run_build
from jushita_etl.landing.replay import land_files
from jushita_etl.settings import paths


@pytest.fixture
def half_built(tmp_path, feed, instance):
    """The first two chunks landed and built; the third waits to be landed."""
    p = paths(tmp_path / "data")
    for chunk in feed.chunks[:2]:
        land_files([str(chunk)], p.landing, quiet=True)
    run_build(p, instance=instance)
    return p


def _refused(result, line_start: str) -> None:
    assert result.returncode == 1
    assert result.stderr.startswith(f"jushita-etl: {line_start}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_read_only_data_directory_is_one_line_and_analysts_still_read(half_built, tmp_path, feed, oracle):
    p, home = half_built, tmp_path / "home"
    with read_only(p.data_dir):
        _refused(run_cli("land", "--data-dir", str(p.data_dir), str(feed.chunks[2]), home=home),
                 f"read-only file system: cannot write {p.data_dir}")
        _refused(run_cli("build", "--data-dir", str(p.data_dir), home=home),
                 f"read-only file system: cannot write {p.data_dir}")
        _refused(run_cli("consume", "--data-dir", str(p.data_dir), "--namesrv", "127.0.0.1:1", "--group", "G",
                         "--topic", "T", "--duration", "1", home=home),
                 "")  # whichever comes first: the directory, or the name server nobody listens on
        read = run_cli("sql", "--data-dir", str(p.data_dir), "--csv", "SELECT count(*) > 0 FROM fact_orders", home=home)
        assert read.returncode == 0 and read.stdout.splitlines()[-1] == "True", read.stderr

    land_files([str(feed.chunks[2])], p.landing, quiet=True)
    assert run_cli("build", "--data-dir", str(p.data_dir), home=home).returncode == 0
    assert_equals_oracle(p.data_dir, oracle)


def test_a_data_directory_without_write_permission_is_one_line(half_built, tmp_path, feed, oracle):
    p, home = half_built, tmp_path / "home"
    if subprocess.run([*WITHOUT_OVERRIDE, "true"]).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here")
    subprocess.run(["chmod", "-R", "a-w", str(p.data_dir)], check=True)
    try:
        _refused(run_cli("land", "--data-dir", str(p.data_dir), str(feed.chunks[2]), home=home, unprivileged=True),
                 f"permission denied on {p.data_dir}")
        _refused(run_cli("build", "--data-dir", str(p.data_dir), home=home, unprivileged=True),
                 f"permission denied on {p.data_dir}")
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(p.data_dir)], check=True)
    assert run_cli("land", "--data-dir", str(p.data_dir), str(feed.chunks[2]), home=home,
                   unprivileged=True).returncode == 0
    assert run_cli("build", "--data-dir", str(p.data_dir), home=home, unprivileged=True).returncode == 0
    assert_equals_oracle(p.data_dir, oracle)
