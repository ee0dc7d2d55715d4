"""The daily partitions of the event tables: one per China calendar day of ``pub_time``."""


from datetime import date, datetime, timedelta

import dagster as dg

from jushita_etl import settings
from jushita_etl.warehouse.steps import MAX_DATE, MIN_DATE

DAILY = dg.DailyPartitionsDefinition(
    start_date=settings.partition_start(), timezone=settings.SHANGHAI, end_offset=1
)


def partition_key_for(day: date) -> str:
    """The partition that owns ``day``: days before the first partition belong to the first, days after the
    last to the last, so no event is ever outside the partition set (see ``window_for``)."""
    keys = DAILY.get_partition_keys()
    key = day.isoformat()
    return min(max(key, keys[0]), keys[-1])


def window_for(start: datetime, end: datetime) -> tuple[date, date]:
    """Event dates [from, to) a partition window rebuilds; the first and last partitions are open-ended."""
    keys = DAILY.get_partition_keys()
    date_from, date_to = start.date(), end.date()
    if date_from.isoformat() <= keys[0]:
        date_from = MIN_DATE
    if (date_to - timedelta(days=1)).isoformat() >= keys[-1]:
        date_to = MAX_DATE
    return date_from, date_to
