"""Fault 4: a lake data file deleted or truncated, the catalog damaged: readers and builds fail with one line naming
the file or the setting, and `jushita-etl rebuild` rebuilds the warehouse from the landing zone exactly."""

from __future__ import annotations

from fault_support import assert_equals_oracle, run_cli

from jushita_etl.build import run_build
from jushita_etl.landing.replay import land_files
from jushita_etl.settings import paths


def _built(tmp_path, feed, instance):
    p = paths(tmp_path / "data")
    for chunk in feed.chunks:
        land_files([str(chunk)], p.landing, quiet=True)
    run_build(p, instance=instance)
    return p


def _lake_file(p, table: str):
    return next(p.lake_dir.glob(f"data/**/{table}/**/ducklake-*.parquet"))


def test_a_missing_or_damaged_lake_file_is_named_and_rebuild_repairs_it(tmp_path, feed, oracle, instance):
    p = _built(tmp_path, feed, instance)
    home = tmp_path / "home"
    missing, damaged = _lake_file(p, "fact_orders"), _lake_file(p, "trade_events")
    missing.unlink()
    damaged.write_bytes(damaged.read_bytes()[:100])

    read = run_cli("sql", "--data-dir", str(p.data_dir), "SELECT count(*) FROM fact_orders", home=home)
    assert read.returncode == 1
    assert read.stderr.strip() == (f"jushita-etl: a lake data file is missing: {missing}; the landing zone still holds "
                                   "everything: `jushita-etl rebuild` rebuilds the warehouse from it")
    read = run_cli("sql", "--data-dir", str(p.data_dir), "SELECT sum(payment) FROM trade_events", home=home)
    assert read.returncode == 1 and f"a lake data file is damaged: {damaged}" in read.stderr

    build = run_cli("build", "--full", "--data-dir", str(p.data_dir), home=home)
    assert build.returncode == 1 and "Traceback" not in build.stderr
    assert "a lake data file is" in build.stderr and "jushita-etl rebuild" in build.stderr, build.stderr

    rebuilt = run_cli("rebuild", "--data-dir", str(p.data_dir), home=home)
    assert rebuilt.returncode == 0, rebuilt.stderr
    [aside] = p.data_dir.glob("lake.damaged-*")
    assert (aside / "catalog.sqlite").exists()  # set aside, never deleted
    assert_equals_oracle(p.data_dir, oracle)


def test_a_damaged_catalog_is_one_line_naming_the_setting_and_rebuild_repairs_it(tmp_path, feed, oracle, instance):
    p = _built(tmp_path, feed, instance)
    home = tmp_path / "home"
    catalog = p.lake_dir / "catalog.sqlite"
    catalog.write_bytes(b"this is not a database any more" * 100)
    for command in (["sql", "SELECT 1"], ["build"], ["status"]):
        failed = run_cli(*command[:1], "--data-dir", str(p.data_dir), *command[1:], home=home)
        assert failed.returncode == 1
        assert "cannot open the lakehouse" in failed.stderr and "JUSHITA_CATALOG" in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr

    rebuilt = run_cli("rebuild", "--data-dir", str(p.data_dir), home=home)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert_equals_oracle(p.data_dir, oracle)
