"""Dagster definitions, one folder per domain: landing (raw_messages, quarantine, the landing sensor),
events (the daily-partitioned event tables), facts (current-state tables and the published file),
mq (sensor-driven consume runs), sync_users (the TOP sync-user status). Resources live in resources.py."""
