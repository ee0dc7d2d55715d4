"""Lakehouse upkeep in the writer's lane: rewrite partly deleted files, merge small files, publish the compacted
state, thin the snapshots, delete unneeded files."""

import dagster as dg

from jushita_etl.defs.resources import WAREHOUSE_POOL, WarehouseResource
from jushita_etl.warehouse import maintenance


@dg.asset(group_name="maintenance", kinds={"ducklake"}, pool=WAREHOUSE_POOL,
          description="The lakehouse's data files and snapshots, kept bounded: files a fifth or more deleted by the "
          "refolds rewritten, adjacent small files merged, the compacted state published, the snapshots thinned "
          "(every one of the last hour; before that each pass's published state, up to the retention: "
          "$JUSHITA_LAKE_RETENTION_DAYS, default 7 days of time travel; never the published one), and files no "
          "snapshot needs deleted.")
def lake_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.writer() as conn:
        report = maintenance.maintain(conn)
    context.log.info(f"files {report.files_before} -> {report.files_after}, snapshots {report.snapshots_before} -> "
                     f"{report.snapshots_after} in {report.seconds:.1f}s")
    return dg.MaterializeResult(metadata={
        "files_before": report.files_before, "files": report.files_after,
        "snapshots_before": report.snapshots_before, "snapshots": report.snapshots_after,
        "seconds": round(report.seconds, 2)})
