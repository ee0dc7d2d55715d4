"""Event-table checks: at most one row per platform message."""

from jushita_etl.defs.quality import unique_key_check
from jushita_etl.warehouse import steps

event_checks = [unique_key_check(table.name, "message_id", "unique_message_id") for table in steps.EVENT_TABLES]
