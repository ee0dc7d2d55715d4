"""Dagster definitions, one folder per domain: landing (raw_messages, quarantine, the landing sensor),
events (the daily-partitioned event tables), facts (current-state tables and the published snapshot),
scenarios (the business-scenario tables), maintenance (the lakehouse's files and snapshots, the run history),
mq (sensor-driven consume runs), sync_users (the TOP sync-user status). Resources live in resources.py, the
asset jobs in jobs.py, the schedules in schedules.py, the partitions in partitions.py."""
