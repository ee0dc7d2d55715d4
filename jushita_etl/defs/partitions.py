"""The daily partitions of the event tables: one per China calendar day of ``pub_time``."""


from datetime import date

import dagster as dg

from jushita_etl import settings

DAILY = dg.DailyPartitionsDefinition(
    start_date=settings.partition_start(), timezone=settings.SHANGHAI, end_offset=1
)


def partition_key_for(day: date) -> str:
    """The partition that owns ``day``: days before the first partition belong to the first, days after the
    last to the last, so no event is ever outside the partition set. Only the ends are looked
    up: listing every key since the start date costs 3-4 ms per call, and a build or sensor tick calls this for
    every date it touches."""
    first, last = DAILY.get_first_partition_key(), DAILY.get_last_partition_key()
    return min(max(day.isoformat(), first), last)
