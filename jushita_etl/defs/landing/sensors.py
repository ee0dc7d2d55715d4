"""The landing sensor: diffs the landing manifest and asks for the runs that bring new batches in.

It never touches the message queue or the warehouse: the manifest is an append-only file, the cursor is its
byte length, so a tick reads only the lines appended since the last one (milliseconds).
"""


from datetime import date

import dagster as dg

from jushita_etl.defs.events.assets import events_job
from jushita_etl.defs.landing.assets import ingest_job
from jushita_etl.defs.partitions import partition_key_for
from jushita_etl.defs.resources import WarehouseResource
from jushita_etl.landing.manifest import read_manifest


@dg.sensor(jobs=[ingest_job, events_job], minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """One ingest run per new stretch of manifest, and one event-partition run per event date it mentions
    (batches hold many dates, days-late events included). run_keys make a repeated tick a no-op."""
    landing = warehouse.paths.landing
    offset = int(context.cursor or 0)
    entries, new_offset = read_manifest(landing, offset)
    if not entries:
        return dg.SkipReason(f"no new batches since manifest offset {offset}")
    dates = sorted({d for entry in entries for d in entry.get("event_dates", [])})
    requests = [dg.RunRequest(job_name=ingest_job.name, run_key=f"ingest-{new_offset}",
                              tags={"landing/batches": str(len(entries))})]
    for key in sorted({partition_key_for(date.fromisoformat(d)) for d in dates}):
        requests.append(dg.RunRequest(job_name=events_job.name, partition_key=key, run_key=f"events-{new_offset}-{key}"))
    return dg.SensorResult(run_requests=requests, cursor=str(new_offset))
