"""Event-table checks: at most one row per platform message (evaluated by ``event_tables`` after each rebuild)."""

from jushita_etl.defs.quality import unique_key_specs
from jushita_etl.warehouse import steps, tables

EVENT_KEYS = {table.name: tables.table(table.name).key_text for table in steps.EVENT_TABLES}
EVENT_CHECK = "unique_message_id"
event_check_specs = unique_key_specs(EVENT_KEYS, EVENT_CHECK)
