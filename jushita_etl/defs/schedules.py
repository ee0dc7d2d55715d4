"""The schedules that keep the warehouse right and fresh, all on by default except the TOP refresh (it needs the
app's credentials): the nightly full refold, the hourly lake maintenance, the hourly pruning of the run history,
the hourly sync-user refresh."""

import dagster as dg

from jushita_etl.defs.facts.assets import FoldConfig
from jushita_etl.defs.jobs import facts_job, maintenance_job
from jushita_etl.defs.maintenance.runs import run_history_job
from jushita_etl.defs.sync_users.assets import sync_users

daily_reconciliation = dg.ScheduleDefinition(
    name="daily_reconciliation",
    target=facts_job,
    cron_schedule="30 3 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    run_config=dg.RunConfig(ops={"fact_tables": FoldConfig(full=True), "scenario_tables": FoldConfig(full=True)}),
    description="Nightly: ingest, refold every fact and scenario table from scratch (which must equal the "
    "incremental state) and publish.",
)


maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_hourly", target=maintenance_job, cron_schedule="17 * * * *",
    execution_timezone="Asia/Shanghai", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: keeps file and snapshot counts bounded however often micro-batches commit.")


run_history_schedule = dg.ScheduleDefinition(
    name="run_history_hourly", target=run_history_job, cron_schedule="41 * * * *",
    execution_timezone="Asia/Shanghai", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: the Dagster instance keeps the runs of the retention (7 days) and the runs of every "
    "asset's and partition's latest materialization, not every build since it was installed.")


sync_users_schedule = dg.ScheduleDefinition(
    name="sync_users_hourly", target=dg.AssetSelection.assets(sync_users), cron_schedule="15 * * * *",
    execution_timezone="Asia/Shanghai", description="Refresh the sellers' message-sync status every hour.")
