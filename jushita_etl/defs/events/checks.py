"""Event-table checks: at most one row per platform message."""

from jushita_etl.defs.quality import unique_key_checks
from jushita_etl.warehouse import steps

event_checks = unique_key_checks({table.name: "message_id" for table in steps.EVENT_TABLES}, "unique_message_id", "events")
