"""Compare a built warehouse with an expected-tables folder (e.g. ../shared/samples/expected), row by row.

Usage: python scripts/compare_expected.py DATA_DIR EXPECTED_DIR   (the data directory of a build; read through
jushita_etl.connect())
Prints per table: rows expected/actual, missing/extra rows, and the first differing rows.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import jushita_etl


def normalise(value):
    if isinstance(value, str) and value.startswith("["):
        try:  # impr_words given as a JSON array: the expected export shows it parsed
            return tuple(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "hour") else value.strftime("%Y-%m-%d")
    return value


def main(data_dir: str, expected_dir: str) -> int:
    conn = jushita_etl.connect(data_dir)
    failures = 0
    for path in sorted(Path(expected_dir).glob("*.json")):
        if path.stem == "counts":
            continue
        if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND table_name = $t", {"t": path.stem}).fetchone()[0]:
            print(f"MISS {path.stem}: no such table")
            failures += 1
            continue
        expected = json.loads(path.read_text())
        columns = list(expected[0].keys()) if expected else None
        if path.stem == "quarantine":
            columns = ["mq_msg_id", "reason", "message_id", "topic"]
        cur = conn.execute(f"SELECT {', '.join(columns)} FROM {path.stem}")
        actual = [tuple(normalise(v) for v in row) for row in cur.fetchall()]
        exp = [tuple(normalise(row.get(c)) for c in columns) for row in expected]
        a, e = sorted(map(repr, actual)), sorted(map(repr, exp))
        missing = sorted(set(e) - set(a))
        extra = sorted(set(a) - set(e))
        ok = not missing and not extra and len(a) == len(e)
        failures += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {path.stem}: expected {len(e)}, actual {len(a)}, missing {len(missing)}, extra {len(extra)}")
        for row in missing[:3]:
            print("   missing", row[:400])
        for row in extra[:3]:
            print("   extra  ", row[:400])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
