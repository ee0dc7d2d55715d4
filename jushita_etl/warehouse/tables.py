"""The contract's tables as ``sql/tables.yml`` states them (grain, key, domain, topics), read once: the only reader
of that file. The asset specs, the unique-key checks, the build steps (``steps.EVENT_TABLES``, ``FACT_TABLES``,
``scenarios.SCENARIO_TABLES``) and the parse's topic routes (``topic_routes``) take them from here.

Names read here become SQL identifiers (table and column names) in the steps, so each is checked to be a plain
identifier when the file is loaded; values reach SQL only as bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import duckdb
import yaml

from jushita_etl.warehouse.sql import sql_dir

KINDS = ("landing", "events", "facts", "scenarios")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Table:
    name: str
    kind: str  # landing, events, facts or scenarios
    grain: str  # one sentence, without its full stop
    key: tuple[str, ...]  # the columns that identify a row; () when rows have no key
    domain: str | None = None
    topics: tuple[str, ...] = ()  # event tables: envelope topics, `prefix_*` for every topic with that prefix
    business_key: tuple[str, ...] = ()  # event tables: content fields, the first valid one is the key (§3)
    refold_by: tuple[str, ...] = ()  # facts: the columns its rows are refolded by (its dirty keys)

    @property
    def key_text(self) -> str:
        """The key columns as SQL (``tid, out_sid``), for the unique-key checks."""
        return ", ".join(self.key)


@dataclass(frozen=True)
class TopicRoute:
    """One topic pattern of an event table, as the parse matches it (a row of ``topic_routes``)."""

    prefix: str  # every routed topic starts with it
    topic: str | None  # the one topic, or None for every topic with the prefix
    domain: str
    event_type_from: int  # 1-based position of the event type in the topic: after its second underscore (§1)
    key_position: int  # the business key's field in key_fields() (1-based)
    fallback_position: int | None  # the field used when the first is missing or invalid (fenxiao_id, sub_order_id)
    key_name: str  # how a quarantine detail names the key: tid, fenxiao_id/sub_order_id

    @property
    def head(self) -> str:
        """What every topic of the route starts with up to its second underscore (``taobao_trade_``): the parse
        joins on it, so that the match is a hash join, not every delivery against every route."""
        return self.prefix[:self.event_type_from - 1]


@cache
def _load() -> dict[str, Table]:
    document = yaml.safe_load((sql_dir() / "tables.yml").read_text(encoding="utf-8"))
    tables = {}
    for kind in KINDS:
        for name, entry in document[kind].items():
            table = Table(
                name=name, kind=kind, grain=" ".join(entry["grain"].split()), key=tuple(entry["key"]),
                domain=entry.get("domain"), topics=tuple(entry.get("topics", ())),
                business_key=tuple(entry.get("business_key", ())),
                refold_by=tuple(entry.get("refold_by", entry["key"])) if kind == "facts" else ())
            for identifier in (name, *table.key, *table.business_key, *table.refold_by):
                if not _IDENTIFIER.fullmatch(identifier):
                    raise ValueError(f"sql/tables.yml: {identifier!r} of {name} is not a plain identifier")
            if kind == "events" and not (table.domain and table.topics and table.business_key):
                raise ValueError(f"sql/tables.yml: event table {name} needs a domain, topics and a business_key")
            tables[name] = table
    return tables


def table(name: str) -> Table:
    return _load()[name]


def of_kind(kind: str) -> list[Table]:
    """The tables of one kind, in the file's order (the facts' order is their fold order)."""
    return [t for t in _load().values() if t.kind == kind]


def key_fields() -> list[str]:
    """Every content field some event table's business key reads, in the file's order: the parse extracts them in
    one pass (``$key_paths``), and each route points at its own."""
    fields: list[str] = []
    for t in of_kind("events"):
        fields += [f for f in t.business_key if f not in fields]
    return fields


def key_paths() -> list[str]:
    """The JSON paths of ``key_fields()``, as the parse binds them."""
    return [f"$.{field}" for field in key_fields()]


def _event_type_from(pattern: str) -> int:
    prefix = pattern.removesuffix("*")
    second = [i for i, c in enumerate(prefix) if c == "_"][1:2]
    if not second:
        raise ValueError(f"sql/tables.yml: topic {pattern!r} has no event type after a second underscore")
    return second[0] + 2


@cache
def topic_routes() -> tuple[TopicRoute, ...]:
    """Every topic pattern of the event tables; no topic matches two and no two share a head (checked here, so the
    parse's join on the head gives each delivery at most one route)."""
    fields = key_fields()
    routes = []
    for t in of_kind("events"):
        first, *fallback = t.business_key
        for pattern in t.topics:
            is_prefix = pattern.endswith("*")
            routes.append(TopicRoute(
                prefix=pattern.removesuffix("*") if is_prefix else pattern[:_event_type_from(pattern) - 1],
                topic=None if is_prefix else pattern, domain=t.domain, event_type_from=_event_type_from(pattern),
                key_position=fields.index(first) + 1,
                fallback_position=fields.index(fallback[0]) + 1 if fallback else None,
                key_name="/".join(t.business_key)))
    for a in routes:
        for b in routes:
            if a is not b and routes_overlap(a, b):
                raise ValueError(f"sql/tables.yml: topics {a.topic or a.prefix + '*'} and "
                                 f"{b.topic or b.prefix + '*'} overlap")
            if a is not b and a.head == b.head:
                raise ValueError(f"sql/tables.yml: topics {a.topic or a.prefix + '*'} and "
                                 f"{b.topic or b.prefix + '*'} share {a.head}: one pattern per topic head")
    return tuple(routes)


def routes_overlap(a: TopicRoute, b: TopicRoute) -> bool:
    if a.topic is not None and b.topic is not None:
        return a.topic == b.topic
    if a.topic is None and b.topic is None:
        return a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)
    one, every = (a, b) if a.topic is not None else (b, a)
    return one.topic.startswith(every.prefix)


def create_topic_routes(conn: duckdb.DuckDBPyConnection) -> None:
    """The temporary table ``topic_routes`` that the parse joins (sql/internal/parse_deliveries.sql), filled from
    ``topic_routes()`` with bound parameters. Temporary like the macros: part of the code, never of the catalog."""
    routes = topic_routes()
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE topic_routes AS SELECT unnest($head::VARCHAR[]) AS head, "
        "unnest($prefix::VARCHAR[]) AS prefix, "
        "unnest($topic::VARCHAR[]) AS topic, unnest($domain::VARCHAR[]) AS domain, "
        "unnest($event_type_from::INTEGER[]) AS event_type_from, unnest($key_position::INTEGER[]) AS key_position, "
        "unnest($fallback_position::INTEGER[]) AS fallback_position, unnest($key_name::VARCHAR[]) AS key_name",
        {"head": [r.head for r in routes], "prefix": [r.prefix for r in routes], "topic": [r.topic for r in routes],
         "domain": [r.domain for r in routes], "event_type_from": [r.event_type_from for r in routes],
         "key_position": [r.key_position for r in routes],
         "fallback_position": [r.fallback_position for r in routes], "key_name": [r.key_name for r in routes]})
