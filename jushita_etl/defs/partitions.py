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
    last to the last, so no event is ever outside the partition set (see ``window_for``). Only the ends are looked
    up: listing every key since the start date costs 3-4 ms per call, and a build or sensor tick calls this for
    every date it touches."""
    first, last = DAILY.get_first_partition_key(), DAILY.get_last_partition_key()
    return min(max(day.isoformat(), first), last)


def window_for(start: datetime, end: datetime) -> tuple[date, date]:
    """Event dates [from, to) a partition window rebuilds; the first and last partitions are open-ended."""
    first, last = DAILY.get_first_partition_key(), DAILY.get_last_partition_key()
    date_from, date_to = start.date(), end.date()
    if date_from.isoformat() <= first:
        date_from = MIN_DATE
    if (date_to - timedelta(days=1)).isoformat() >= last:
        date_to = MAX_DATE
    return date_from, date_to
